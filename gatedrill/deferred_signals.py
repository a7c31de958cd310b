"""Signals held for a block that an interrupt must not cut in two, then delivered as they came.

Two such blocks: `subprocess.Popen` forks, then waits for the child's exec, and a KeyboardInterrupt raised in that
wait leaves a running child that no one tracks (`Processes.start`); and the command line's first import, where a
KeyboardInterrupt can crash the interpreter (SIGSEGV, seen inside the import of pydantic) or print Python's
traceback (`gatedrill.entry`). Light on purpose: the entry imports it before anything else."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT, SIGTERM and SIGHUP for the block, then deliver them to the handlers that were in place.

    Caught signals revert to their defaults at exec, so children started in the block are not affected. Outside
    the main thread this does nothing (only it may set handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = {sig: signal.getsignal(sig) for sig in _STOP_SIGNALS}
    for sig, handler in previous.items():
        if handler is not None and handler is not signal.SIG_IGN:  # None: set outside Python, left as it is
            signal.signal(sig, lambda signum, _frame: held.append(signum))
    try:
        yield
    finally:
        for sig, handler in previous.items():
            if handler is not None:
                signal.signal(sig, handler)
        for signum in dict.fromkeys(held):
            signal.raise_signal(signum)
