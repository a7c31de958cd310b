"""Ctrl-C as a terminal delivers it. xdist's workers ignore SIGINT, and so does a job started in the background;
a child inherits that, and Python installs no KeyboardInterrupt handler for a signal ignored at its start, so a test
that interrupts a child or itself would prove nothing (or time out). These give SIGINT back its ordinary meaning."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator


def sigint_default() -> None:
    """`preexec_fn` for a child a test will Ctrl-C: SIGINT's default disposition, as a terminal's child has it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextlib.contextmanager
def python_sigint_handler() -> Iterator[None]:
    """This process raises KeyboardInterrupt on SIGINT for the block, as an interactive Python does."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
