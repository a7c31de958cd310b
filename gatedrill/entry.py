"""The `gatedrill` script's first code, light on purpose: a Ctrl-C while the command line is still being imported
(its first half second or more) ends quietly, like one at any later moment. The import runs with the stop signals
held: a KeyboardInterrupt inside it printed Python's traceback, and in 2 of 80 tries under load crashed the
interpreter with SIGSEGV."""

from __future__ import annotations

import sys

from gatedrill.deferred_signals import signals_deferred
from gatedrill.exit_codes import EXIT_INTERRUPTED


def run() -> None:
    try:
        with signals_deferred():  # a Ctrl-C in the import arrives as the block ends
            from gatedrill.cli import main
    except KeyboardInterrupt:
        sys.stderr.write("gatedrill: interrupted before it started; nothing was started\n")
        sys.exit(EXIT_INTERRUPTED)
    main(prog_name="gatedrill")
