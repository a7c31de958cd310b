"""Write the requested report files (--html, --junit, --json) for a judged run, in one place for every command."""

from __future__ import annotations

from pathlib import Path

from gatedrill.fakes.errors import ConfigError

from .html import write_html
from .json_report import write_json
from .judged import JudgedRun
from .junit import write_junit


def write_outputs(run: JudgedRun, html: str | Path | None = None, junit: str | Path | None = None,
                  json: str | Path | None = None) -> list[Path]:
    """Write each requested file; return the paths written (in the order html, junit, json).

    A file that cannot be written is a usage error (one line naming it), not a traceback."""
    written = []
    for path, writer in ((html, write_html), (junit, write_junit), (json, write_json)):
        if not path:
            continue
        try:
            written.append(writer(run, path))
        except OSError as exc:
            raise ConfigError(f"cannot write the report {path}: {exc.strerror or exc}; choose a writable path") from exc
    return written
