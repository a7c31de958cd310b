"""`gateway.set_weights`: how a gateway gatedrill does not configure itself (url, container) changes its weights
during a run: a command to run or an HTTP call to make, with the new weights substituted into it.

Templates (in every `command` argument, and in the HTTP `url`, `body` strings and `headers` values):
`{weights_json}` is the whole weight map as JSON (`{"stable": 90.0, "canary": 10.0}`), `{weights[NAME]}` one
upstream's weight, `{env[VAR]}` (headers only) an environment variable, so a key never sits in the scenario or on
a command line. A body string that is exactly one placeholder becomes the value itself (a number, a mapping), so
`{"weight": "{weights[canary]}"}` sends a JSON number. `{{` and `}}` are literal braces.
"""

from __future__ import annotations

import json
import os
import string
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

FIELDS = ("weights_json", "weights", "env")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HttpHook(_Strict):
    """One HTTP call that sets the gateway's weights (a 2xx answer means it took them)."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    url: str = Field(description="e.g. http://127.0.0.1:9000/admin/weights; {weights[NAME]} may appear in it")
    body: Any = Field(default=None, description="sent as JSON (omitted when null), placeholders substituted")
    headers: dict[str, str] = Field(default_factory=dict, description="e.g. {authorization: 'Bearer {env[KEY]}'}")
    timeout_s: float = Field(default=10, gt=0)


class WeightsHook(_Strict):
    """Exactly one of `command` (run on this machine; exit 0 means the gateway took the weights) or `http`."""

    command: list[str] | None = Field(default=None, min_length=1, description="argv, e.g. [./set-weights.sh, "
                                      "'{weights_json}']; never put a secret here (a command line is public)")
    http: HttpHook | None = None
    timeout_s: float = Field(default=30, gt=0, description="the command's time limit")

    @model_validator(mode="after")
    def _one(self) -> WeightsHook:
        if (self.command is None) == (self.http is None):
            raise ValueError("set_weights needs exactly one of `command: [...]` or `http: {method, url, body}`")
        for where, text in self.templates():
            fields = template_fields(text)
            bad = [f for f in fields if f.split("[")[0] not in FIELDS]
            if bad:
                raise ValueError(f"set_weights {where}: unknown placeholder {{{bad[0]}}}; use {{weights_json}}, "
                                 "{weights[NAME]} or (headers only) {env[VAR]}")
            if not where.startswith("http.headers") and any(f.startswith("env") for f in fields):
                raise ValueError(f"set_weights {where}: {{env[...]}} is allowed in http.headers only")
        return self

    def templates(self) -> list[tuple[str, str]]:
        """(where, text) of every string that takes placeholders."""
        out = [(f"command[{i}]", a) for i, a in enumerate(self.command or [])]
        if self.http is not None:
            out.append(("http.url", self.http.url))
            out += [(f"http.headers.{k}", v) for k, v in self.http.headers.items()]
            out += [(f"http.body{path}", s) for path, s in _strings(self.http.body, "")]
        return out

    def upstreams_named(self) -> set[str]:
        """The upstream names its `{weights[NAME]}` placeholders use (the scenario checks they exist)."""
        out = set()
        for _, text in self.templates():
            for f in template_fields(text):
                if f.startswith("weights[") and f.endswith("]"):
                    out.add(f[len("weights["):-1])
        return out


def template_fields(text: str) -> list[str]:
    """The placeholders of `text` (`weights[canary]`, `weights_json`...); a ValueError for broken braces."""
    try:
        return [f for _, f, _, _ in string.Formatter().parse(text) if f is not None]
    except ValueError as exc:
        raise ValueError(f"bad template {text!r}: {exc} (write {{{{ and }}}} for literal braces)") from None


def _strings(value: Any, path: str) -> list[tuple[str, str]]:
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, dict):
        return [x for k, v in value.items() for x in _strings(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [x for i, v in enumerate(value) for x in _strings(v, f"{path}[{i}]")]
    return []


class _Weights(dict[str, float]):
    def __missing__(self, key: str) -> float:
        return 0.0  # a declared upstream that is no target (the scenario checked the name): it has no weight


def fill(text: str, weights: dict[str, float], env: bool = False) -> str:
    """`text` with the placeholders filled in (`env`: `{env[VAR]}` allowed, from this process's environment)."""
    values: dict[str, Any] = {"weights_json": json.dumps(weights), "weights": _Weights(weights)}
    if env:
        values["env"] = _Env()
    return text.format(**values)


class _Env(dict[str, str]):
    def __missing__(self, key: str) -> str:
        value = os.environ.get(key)
        if value is None:
            raise ValueError(f"set_weights: environment variable {key} is not set")
        return value


def fill_body(value: Any, weights: dict[str, float]) -> Any:
    """A JSON body with its placeholders filled in; a string that is one whole placeholder becomes its value."""
    if isinstance(value, str):
        fields = template_fields(value)
        if len(fields) == 1 and value == "{" + fields[0] + "}":
            if fields[0] == "weights_json":
                return dict(weights)
            if fields[0].startswith("weights["):
                return _Weights(weights)[fields[0][len("weights["):-1]]
        return fill(value, weights)
    if isinstance(value, dict):
        return {k: fill_body(v, weights) for k, v in value.items()}
    if isinstance(value, list):
        return [fill_body(v, weights) for v in value]
    return value
