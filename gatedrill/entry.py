"""The `gatedrill` script's first code, light on purpose: a Ctrl-C while the command line is still being imported
(the first half second) ends quietly, like one at any later moment, instead of with Python's import traceback."""

from __future__ import annotations

import sys

EXIT_INTERRUPTED = 130  # 128 + SIGINT; harness.cli has the same code for a Ctrl-C later on


def run() -> None:
    try:
        from gatedrill.cli import main
    except KeyboardInterrupt:
        sys.stderr.write("gatedrill: interrupted before it started; nothing was started\n")
        sys.exit(EXIT_INTERRUPTED)
    main(prog_name="gatedrill")
