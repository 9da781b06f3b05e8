"""The project's own exception hierarchy.

Every domain error raised by rramlsm derives from :class:`RRAMLSMError`, so a
caller can catch them all at once.  Configuration mistakes also derive from
the builtin ``ValueError``/``TypeError`` so that ordinary Python code that
validates arguments keeps working.
"""

from collections.abc import Iterator
from contextlib import contextmanager

__all__ = [
    "naming",
    "RRAMLSMError",
    "EventDataError",
    "UnknownSourceError",
    "BundleError",
    "ConfigError",
    "UnsupportedGraphError",
]


class RRAMLSMError(Exception):
    """Base class of every error raised by rramlsm."""


class EventDataError(RRAMLSMError, ValueError):
    """An event file or array is malformed; the message names the file and the fault."""


class UnknownSourceError(RRAMLSMError, ValueError):
    """A data source name does not match any known source."""


class BundleError(RRAMLSMError, ValueError):
    """An export bundle is corrupted, truncated, of the wrong version or shape."""


class ConfigError(RRAMLSMError, ValueError):
    """A configuration value is inconsistent."""


class UnsupportedGraphError(RRAMLSMError, ValueError):
    """A NIR graph has a node the macro cannot execute; the message names the node and why."""

    def __init__(self, message: str, node: str | None = None):
        super().__init__(message)
        self.node = node


@contextmanager
def naming(argument: str) -> Iterator[None]:
    """Put ``argument`` (an option such as ``--bundle``) in front of the project's errors, so
    the user sees which of the arguments is wrong."""
    try:
        yield
    except RRAMLSMError as e:
        raise type(e)(f"{argument}: {e}") from None
