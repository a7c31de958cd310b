"""Write the requested report files (--html, --junit, --json) for a judged run, in one place for every command."""

from __future__ import annotations

from pathlib import Path

from .html import write_html
from .json_report import write_json
from .judged import JudgedRun
from .junit import write_junit


def write_outputs(run: JudgedRun, html: str | Path | None = None, junit: str | Path | None = None,
                  json: str | Path | None = None) -> list[Path]:
    """Write each requested file; return the paths written (in the order html, junit, json)."""
    written = []
    if html:
        written.append(write_html(run, html))
    if junit:
        written.append(write_junit(run, junit))
    if json:
        written.append(write_json(run, json))
    return written
