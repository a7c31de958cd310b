"""OpenAI's official OpenAPI document (github.com/openai/openai-openapi, MIT), trimmed to what the fakes serve.

The vendored copy (`contracts/openapi/openai-official.json`, licence beside it) keeps the operations below and
every component they reference, unchanged: 480 KB instead of 3.4 MB. `python -m gatedrill.contracts.fake_fuzz.official
PATH/TO/openapi.json` rebuilds it from a newer upstream file.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Any

OFFICIAL = Path(__file__).resolve().parent.parent / "openapi" / "openai-official.json"
SOURCE = "https://github.com/openai/openai-openapi (openapi.json)"
# path -> methods the fakes serve (the official paths are relative to /v1)
KEEP = {"/chat/completions": ("post",), "/responses": ("post",), "/embeddings": ("post",), "/models": ("get",),
        "/models/{model}": ("get",)}


def _refs(node: Any, out: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            out.add(ref)
        for v in node.values():
            _refs(v, out)
    elif isinstance(node, list):
        for v in node:
            _refs(v, out)


def trim(spec: dict[str, Any], upstream_commit: str = "") -> dict[str, Any]:
    """The operations in KEEP and the components they reach, everything else dropped."""
    paths: dict[str, Any] = {}
    for path, methods in KEEP.items():
        item = spec["paths"][path]
        paths[path] = {m: item[m] for m in methods if m in item}
        if "parameters" in item:
            paths[path]["parameters"] = item["parameters"]
    todo: set[str] = set()
    _refs(paths, todo)
    seen: set[str] = set()
    components: dict[str, dict[str, Any]] = {}
    while todo:
        ref = todo.pop()
        if ref in seen:
            continue
        seen.add(ref)
        _, _, section, name = ref.split("/", 3)
        obj = spec["components"][section][name]
        components.setdefault(section, {})[name] = obj
        found: set[str] = set()
        _refs(obj, found)
        todo |= found - seen
    info = {**spec["info"], "x-gatedrill-trimmed-from": SOURCE + (f" at {upstream_commit}" if upstream_commit else "")}
    return {"openapi": spec["openapi"], "info": info, "servers": spec.get("servers", []), "paths": paths,
            "components": components}


@functools.cache
def _load() -> str:
    return OFFICIAL.read_text()


def official_openai() -> dict[str, Any]:
    """The trimmed official document, a fresh copy each call."""
    data: dict[str, Any] = json.loads(_load())
    return data


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        raise SystemExit("usage: python -m gatedrill.contracts.fake_fuzz.official OPENAPI_JSON [UPSTREAM_COMMIT]")
    trimmed = trim(json.loads(Path(sys.argv[1]).read_text()), sys.argv[2] if len(sys.argv) == 3 else "")
    OFFICIAL.write_text(json.dumps(trimmed, indent=1, sort_keys=False) + "\n")
    print(f"wrote {OFFICIAL} ({OFFICIAL.stat().st_size:,} bytes)")
