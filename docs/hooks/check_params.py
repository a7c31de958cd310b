"""MkDocs hook: fills each `<!-- check-params: NAME -->` with a table generated from that check's parameter model.

The tables are built from `gatedrill.harness.checks.REGISTRY` at build time (name, type with its bounds, default,
the field's description), so they cannot drift from the code and no generated table is committed. A page that
holds one placeholder must hold one for every registered check, and a placeholder must name a registered check:
either mistake fails the build.
"""

from __future__ import annotations

import json
import re
import sys
import types
import typing
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"<!-- check-params: ([A-Za-z0-9_]+) -->")
_BOUNDS = {"gt": ">", "ge": "≥", "lt": "<", "le": "≤", "min_length": "min length", "max_length": "max length"}


def _registry() -> dict[str, Any]:
    """The check registry of this checkout (its root goes first on sys.path, ahead of any installed gatedrill)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from gatedrill.harness.checks import REGISTRY

    return REGISTRY


def type_name(annotation: Any) -> str:
    """A type as a reader of YAML would name it: `float | None`, `list[str]`, `"a" | "b"`."""
    if annotation is None or annotation is type(None):
        return "None"
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return " | ".join(json.dumps(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in args)
    if origin is typing.Annotated:
        return type_name(args[0])
    if origin is not None:
        name = getattr(origin, "__name__", str(origin))
        return f"{name}[{', '.join(type_name(a) for a in args)}]" if args else name
    return getattr(annotation, "__name__", str(annotation).replace("typing.", ""))


def bounds(field: Any) -> str:
    """The field's numeric and length constraints (annotated-types metadata), e.g. `> 0, < 1`."""
    found = []
    for meta in field.metadata:
        for attr, symbol in _BOUNDS.items():
            value = getattr(meta, attr, None)
            if value is not None:
                found.append(f"{symbol} {value}")
    return ", ".join(found)


def default_text(field: Any) -> str:
    """The default as YAML would spell it; `required` when there is none."""
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    try:
        return json.dumps(value)
    except TypeError:
        return str(value)


def _cell(text: str) -> str:
    """Prose for a table cell: one line, pipes escaped (code spans need no escape: the tables extension skips them)."""
    return " ".join(text.split()).replace("|", "\\|")


def params_table(name: str, model: type[Any]) -> str:
    """One markdown table (inside a div the tests can find) with a row per field of the check's params model."""
    rows = ["| parameter | type | default | description |", "|---|---|---|---|"]
    for field_name, field in model.model_fields.items():
        kind = type_name(field.annotation)
        if limits := bounds(field):
            kind = f"{kind} ({limits})"
        rows.append(f"| `{field_name}` | `{kind}` | `{default_text(field)}` | {_cell(field.description or '')} |")
    return f'<div class="check-params" id="params-{name}" markdown="1">\n\n' + "\n".join(rows) + "\n\n</div>"


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    names = PLACEHOLDER.findall(markdown)
    if not names:
        return markdown
    registry = _registry()
    unknown = sorted(set(names) - set(registry))
    if unknown:
        raise PluginError(f"{page.file.src_uri}: check-params placeholder for unknown check(s) {', '.join(unknown)}; "
                          f"registered: {', '.join(sorted(registry))}")
    missing = sorted(set(registry) - set(names))
    if missing:
        raise PluginError(f"{page.file.src_uri}: no <!-- check-params: NAME --> for registered check(s) "
                          f"{', '.join(missing)}; add a section for each")
    return PLACEHOLDER.sub(lambda m: params_table(m.group(1), registry[m.group(1)].params), markdown)
