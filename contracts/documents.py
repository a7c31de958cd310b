"""The curated OpenAPI 3.1 documents (contracts/openapi/*.yaml), loaded and bundled into self-contained dicts.

A document may reference another's components (`openai.yaml#/components/schemas/ChatCompletion`); `document`
copies each referenced component in under the same name and rewrites the reference to a local one, so tools that
see one document at a time (Schemathesis, a JSON Schema validator) get everything they need.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import yaml

from gatedrill.fakes.errors import ConfigError

OPENAPI_DIR = Path(__file__).parent / "openapi"
DOCUMENTS = ("gateway", "openai", "anthropic")


@functools.cache
def _load(name: str) -> dict[str, Any]:
    if name not in DOCUMENTS:
        raise ConfigError(f"unknown contract document {name!r}; choose one of: {', '.join(DOCUMENTS)}")
    data = yaml.safe_load((OPENAPI_DIR / f"{name}.yaml").read_text())
    return _bundle(data, name)


def document(name: str) -> dict[str, Any]:
    """The named document (`gateway`, `openai`, `anthropic`) as a self-contained dict; a fresh copy each call."""
    return copy.deepcopy(_load(name))


def document_path(name: str) -> Path:
    return OPENAPI_DIR / f"{name}.yaml"


def resolve(doc: dict[str, Any], node: Any) -> Any:
    """Follow local `$ref`s until `node` is not a reference."""
    for _ in range(16):  # bounded: documents are small and acyclic at this level
        if not (isinstance(node, dict) and isinstance(node.get("$ref"), str)):
            return node
        node = pointer(doc, node["$ref"])
    raise ConfigError("contract document: $ref chain longer than 16")


def pointer(doc: dict[str, Any], ref: str) -> Any:
    """The value at a local reference `#/a/b` (JSON Pointer escapes honoured)."""
    if not ref.startswith("#/"):
        raise ConfigError(f"contract document: only local references resolve here, got {ref!r}")
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _bundle(doc: dict[str, Any], name: str) -> dict[str, Any]:
    """Copy in components referenced from sibling documents, transitively; names must not clash."""
    components = doc.setdefault("components", {})
    copied: dict[tuple[str, str], str] = {}  # (kind, name) -> the file it came from
    pending = [doc]
    while pending:
        node = pending.pop()
        for ref_holder in _ref_holders(node):
            target, _, local = ref_holder["$ref"].partition("#")
            if not target:
                continue
            other = yaml.safe_load((OPENAPI_DIR / target).read_text())
            parts = local.strip("/").split("/")
            if len(parts) != 3 or parts[0] != "components":
                raise ConfigError(f"{name}.yaml: external $ref {ref_holder['$ref']!r} must name a component")
            _, kind, comp = parts
            section = components.setdefault(kind, {})
            if comp in section and copied.get((kind, comp)) != target:
                raise ConfigError(f"{name}.yaml: component {kind}/{comp} clashes with {target}'s")
            if comp not in section:
                copied[(kind, comp)] = target
                section[comp] = copy.deepcopy(other["components"][kind][comp])
                # its own local refs point into `other`: make them external so the loop copies them too
                for inner in _ref_holders(section[comp]):
                    if inner["$ref"].startswith("#/"):
                        inner["$ref"] = target + inner["$ref"]
                pending.append(section[comp])
            ref_holder["$ref"] = f"#/components/{kind}/{comp}"
    return doc


def _ref_holders(node: Any) -> list[dict[str, Any]]:
    """Every dict under `node` that has a string `$ref`."""
    out: list[dict[str, Any]] = []
    stack = [node]
    while stack:
        cur = stack.pop()
        if isinstance(cur, dict):
            if isinstance(cur.get("$ref"), str):
                out.append(cur)
            stack.extend(cur.values())
        elif isinstance(cur, list):
            stack.extend(cur)
    return out
