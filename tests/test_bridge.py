"""The UART host link: UART blocks, and the bridged macro driven byte by byte (Amaranth sim)."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from rramlsm.hw.bridge import BridgedMacro, Reply
from rramlsm.hw.host import SampleResult, ctrl_word
from rramlsm.hw.hostlink import decode_output, encode_input, encode_read, encode_write
from rramlsm.hw.macro import MAGIC, Macro, Reg
from rramlsm.hw.program import core_image, encode_frames
from rramlsm.hw.uart import UARTRx, UARTTx, check_divisor
from tests.hw.hw_support import expect, random_frames, small_bundle

DIV = 4


async def _send_bytes(ctx, pin, data: bytes):
    for byte in data:
        for bit in [0, *((byte >> k) & 1 for k in range(8)), 1]:
            ctx.set(pin, bit)
            await ctx.tick().repeat(DIV)


async def _recv_byte(ctx, pin) -> int:
    await ctx.tick().until(pin == 0)            # start bit
    await ctx.tick().repeat(DIV // 2 + DIV)     # middle of bit 0
    byte = 0
    for k in range(8):
        byte |= ctx.get(pin) << k
        await ctx.tick().repeat(DIV)
    assert ctx.get(pin) == 1, "stop bit"
    return byte


def test_uart_loopback():
    from amaranth import Module

    m = Module()
    m.submodules.tx = tx = UARTTx(DIV)
    m.submodules.rx = rx = UARTRx(DIV)
    m.d.comb += rx.rx.eq(tx.tx)
    data = bytes(range(0, 256, 7)) + b"\x00\xff"
    got = []

    async def producer(ctx):
        for b in data:
            ctx.set(tx.data.payload, b)
            ctx.set(tx.data.valid, 1)
            await ctx.tick().until(tx.data.ready)
        ctx.set(tx.data.valid, 0)

    async def consumer(ctx):
        while len(got) < len(data):
            (b,), = [await ctx.tick().sample(rx.data.payload).until(rx.data.valid)]
            got.append(b)

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(producer, background=True)
    sim.add_testbench(consumer)
    sim.run()
    assert bytes(got) == data
    with pytest.raises(ValueError, match="divisor must be an integer >= 4, not 2"):
        check_divisor(2)


def test_bridged_macro_gives_the_golden_results_over_the_uart():
    rng = np.random.default_rng(31)
    mbs = {"visual": small_bundle(rng, inputs=10, neurons=6, steps=5),
           "audio": small_bundle(rng, inputs=6, neurons=6, steps=5)}
    imgs = {m: core_image(mb, lanes=4, head_lanes=4) for m, mb in mbs.items()}
    macro = Macro({m: i.params for m, i in imgs.items()}, {m: i.init() for m, i in imgs.items()},
                  {m: i.registers for m, i in imgs.items()})
    dut = BridgedMacro(macro, DIV, fifo_depth=64)
    frames = {"visual": random_frames(rng, 2, 5, 10, 0.3)[1:],
              "audio": random_frames(rng, 2, 5, 6, 0.3)[1:]}
    replies = []
    done = []          # modalities whose result has arrived (the host waits for it)
    overflow = []

    async def device_to_host(ctx):
        tag = await _recv_byte(ctx, dut.tx)
        assert tag == Reply.READ.value
        replies.append(int.from_bytes(bytes([await _recv_byte(ctx, dut.tx) for _ in range(4)]),
                                      "little"))
        for m in ("visual", "audio"):
            for _ in range(imgs[m].params.neurons + imgs[m].params.dim + 3):
                assert await _recv_byte(ctx, dut.tx) == Reply.OUTPUT.value
                replies.append(int.from_bytes(bytes([await _recv_byte(ctx, dut.tx)
                                                     for _ in range(5)]), "little"))
            done.append(m)
        overflow.append(ctx.get(dut.overflow))

    async def host_to_device(ctx):
        # Streams are routed by CTRL.modality: switch only once the last result is in.
        await _send_bytes(ctx, dut.rx, encode_read(Reg.ID))
        for k, m in enumerate(("visual", "audio")):
            while len(done) < k:
                await ctx.tick()
            await _send_bytes(ctx, dut.rx, encode_write(Reg.CTRL, ctrl_word(m, dump=True))
                              + b"".join(encode_input(kind, r)
                                         for kind, r in encode_frames(frames[m][0])))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(host_to_device, background=True)
    sim.add_testbench(device_to_host)
    sim.run()
    assert replies[0] == MAGIC
    words = iter(replies[1:])
    for m in ("visual", "audio"):
        res = SampleResult()
        while not decode_output(next(words), res):
            pass
        counts, emb, labels, scores = expect(mbs[m], frames[m][:1])
        assert res.counts == counts[0].tolist() and res.embedding == emb[0].tolist()
        assert (res.label, res.score) == (int(labels[0]), int(scores[0]))
    assert overflow == [0]


def test_a_board_that_does_not_answer_is_named_as_such():
    """Nothing within the port's timeout (pyserial returns b''): a message that says so and
    what to check, not a bare protocol error."""
    from rramlsm.errors import RRAMLSMError
    from rramlsm.hw.hostlink import HostLink

    class Silent:
        def write(self, data):
            pass

        def read(self, n):
            return b""

    with pytest.raises(RRAMLSMError, match=r"no reply within the port's timeout \(--timeout\)"):
        HostLink(Silent()).read(Reg.ID)
