"""Load YAML while remembering the line of every key, so a validation error can say where it is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from gatedrill.fakes.errors import ConfigError

Loc = tuple[str | int, ...]


def load_with_lines(path: Path) -> tuple[Any, dict[Loc, int]]:
    """Parse a YAML file; return the data and a map from key path to 1-based line number."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: not valid YAML: {problem}") from None
    lines: dict[Loc, int] = {}
    if node is not None:
        _walk(node, (), lines)
    return data, lines


def _walk(node: yaml.Node, loc: Loc, lines: dict[Loc, int]) -> None:
    lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            k = key.value
            lines[(*loc, k)] = key.start_mark.line + 1
            _walk(value, (*loc, k), lines)
            lines[(*loc, k)] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*loc, i), lines)


def line_of(lines: dict[Loc, int], loc: Loc) -> int | None:
    """The line of the deepest part of `loc` present in the file. Parts that are not keys of the file (the tags
    pydantic adds for unions, or a missing key) are skipped."""
    prefix: Loc = ()
    for part in loc:
        if (*prefix, part) in lines:
            prefix = (*prefix, part)
    return lines.get(prefix)


def key_path(loc: Loc, lines: dict[Loc, int]) -> str:
    """A readable key path: the file's own keys, plus the final missing or unknown key."""
    prefix: Loc = ()
    for part in loc:
        if (*prefix, part) in lines:
            prefix = (*prefix, part)
    last = loc[-1] if loc else None
    parts = list(prefix)
    if last is not None and (not prefix or prefix[-1] != last) and isinstance(last, str) and last not in parts:
        parts.append(last)
    return ".".join(str(p) for p in parts) or "(top level)"
