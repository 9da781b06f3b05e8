"""Port bundles shared by the core's components (each a :class:`wiring.Signature` subclass).

Directions follow Amaranth's conventions: :class:`TaskSignature` and
:class:`ProgSignature` are written from the side that drives the request (as
``amaranth.lib.stream.Signature`` is written from the source); the memory-like
ports use ``amaranth.lib.memory``'s :class:`~amaranth.lib.memory.ReadPort.Signature`
and :class:`~amaranth.lib.memory.WritePort.Signature`, written from the memory's
side, so a block that owns a memory exposes its port as ``Out(...)`` and the
block that drives it holds ``In(...)``.
"""

from __future__ import annotations

from amaranth.lib import enum, stream, wiring
from amaranth.lib.memory import ReadPort
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

__all__ = ["TaskSignature", "ProgSignature", "RowListSignature", "ProgTarget", "PROG_ADDR_BITS"]

#: Width of a programming write's word address.
PROG_ADDR_BITS = 16


class ProgTarget(enum.Enum, shape=3):
    """Which memory a programming write goes to."""

    CROSSBAR = 0
    HEAD_WEIGHT = 1
    HEAD_BIAS = 2
    GELU_LUT = 3
    PROTOTYPES = 4
    LABELS = 5


class TaskSignature(wiring.Signature):
    """Start a block's pass and learn when it ends (controller side).

    ``start``: one-cycle request; ``busy``: the pass runs; ``done``: one-cycle
    pulse, registered, the cycle after the pass's last cycle.
    """

    def __init__(self):
        super().__init__({"start": Out(1), "busy": In(1), "done": In(1)})

    def __eq__(self, other):
        return type(self) is type(other)

    def __repr__(self):
        return "TaskSignature()"


class ProgSignature(wiring.Signature):
    """One programming write (driver side): ``data`` goes to word ``addr`` of ``target``'s
    memory in the cycle ``en`` is high (the memories' write ports are synchronous)."""

    def __init__(self, data_width: int):
        if not isinstance(data_width, int) or data_width < 1:
            raise TypeError(f"ProgSignature data_width must be a positive integer, "
                            f"not {data_width!r}")
        self._data_width = data_width
        super().__init__({"en": Out(1), "target": Out(ProgTarget), "addr": Out(PROG_ADDR_BITS),
                          "data": Out(data_width)})

    @property
    def data_width(self) -> int:
        return self._data_width

    def __eq__(self, other):
        return type(self) is type(other) and self.data_width == other.data_width

    def __repr__(self):
        return f"ProgSignature(data_width={self.data_width})"


class RowListSignature(wiring.Signature):
    """The step engine's view of the loader's active-row list for the current step.

    Engine side.  ``full``: the buffer holds a closed bin (the engine owns it);
    ``eos``: that bin ended the sample; ``length``: rows in it.  ``read``: the
    list's read port (two cycles latency: the word is registered beside the memory).
    ``append``: a row written at index ``length`` (recurrent rows), taken every cycle
    it is valid.  ``free``: the engine is done with the buffer (it goes back to the
    loader, the other one's ``full``, ``eos`` and ``length`` are seen from the next
    cycle on; the engine reads and appends to it from the cycle after that);
    ``clear``: the list is emptied but kept (the no-input steps after EOS).
    """

    def __init__(self, rows: int):
        if not isinstance(rows, int) or rows < 2:
            raise TypeError(f"RowListSignature rows must be an integer >= 2, not {rows!r}")
        self._rows = rows
        super().__init__({
            "full": In(1), "eos": In(1), "length": In(range(rows + 1)),
            "read": In(ReadPort.Signature(addr_width=ceil_log2(rows), shape=range(rows))),
            "append": Out(stream.Signature(range(rows), always_ready=True)),
            "free": Out(1), "clear": Out(1),
        })

    @property
    def rows(self) -> int:
        return self._rows

    def __eq__(self, other):
        return type(self) is type(other) and self.rows == other.rows

    def __repr__(self):
        return f"RowListSignature(rows={self.rows})"
