"""The control API, under the reserved prefix /_gatedrill/ on every fake's own port.

GET  health | config | faults | journal?cursor=&limit=&model=&status=... | metrics
(health also gives the fake's clocks, so a runner on another host can map its journal's times onto its own)
PATCH config (JSON merge patch)   PUT faults (replace)   POST faults (add one)   DELETE faults
POST reset
A change is validated first; a bad one gets 422 with the reason and changes nothing.
A fake served by several worker processes answers the same API for the whole fake, plus GET workers
(`fakes.workers.group`).
Credentials never leave it (configured `api_keys` read as "[redacted]"). With `control_token` set, every endpoint
but health wants the header `x-gatedrill-control-token`; without one, the loopback bind is the only guard.
"""

from __future__ import annotations

import hmac
import time
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from .errors import ConfigError
from .metrics import MetricsSource, render_metrics
from .plan import HttpRequest, Plan
from .redaction import redact_body

CONTROL_TOKEN_HEADER = "x-gatedrill-control-token"
CONTROL_TOKEN_ENV = "GATEDRILL_CONTROL_TOKEN"  # where `fake serve` and `run --adopt-fake` read the token: never argv

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .config import FakeConfig
    from .faults import FaultRule


class ControlledFake(MetricsSource, Protocol):
    """What the control API may do to a fake: read and patch its settings and fault rules, page and reset its journal,
    render its metrics. A protocol, so the core that serves the API and the API itself do not import each other."""

    def patch(self, patch: dict[str, Any]) -> FakeConfig: ...

    def set_faults(self, rules: Sequence[FaultRule | dict[str, Any]]) -> None: ...

    def add_fault(self, rule: FaultRule | dict[str, Any]) -> None: ...

    def clear_faults(self) -> None: ...

    def query_journal(self, query: str) -> dict[str, Any]: ...

    def reset(self) -> None: ...


def _json(status: int, obj: Any) -> Plan:
    body = orjson.dumps(obj, default=str)
    return Plan(status, [("content-type", "application/json")], [(0.0, body)], content_length=len(body))


def _error(status: int, message: str) -> Plan:
    return _json(status, {"error": {"message": message}})


def _shown(config: Any) -> Any:
    return redact_body(config.model_dump(mode="json"))


def authorised(fake: ControlledFake, req: HttpRequest) -> bool:
    token = fake.config.control_token
    if token is None:
        return True
    given = req.headers.get(CONTROL_TOKEN_HEADER, "")
    return hmac.compare_digest(given.encode("latin-1"), token.encode("latin-1", "replace"))


def handle_control(fake: ControlledFake, req: HttpRequest) -> Plan:
    what = req.path[len("/_gatedrill/"):].strip("/")
    m = req.method
    try:
        if what == "health" and m == "GET":
            return _json(200, {"status": "ok", "name": fake.config.name, "provider": fake.config.provider,
                               "journal": fake.journal.stats(),
                               "clock": {"mono": time.monotonic(), "wall": time.time()}})
        if not authorised(fake, req):
            return _error(401, f"the control API wants the header {CONTROL_TOKEN_HEADER} with this fake's "
                               "control token")
        if what == "config":
            if m == "GET":
                return _json(200, _shown(fake.config))
            if m == "PATCH":
                return _json(200, _shown(fake.patch(_body(req))))
        if what == "faults":
            if m == "GET":
                return _json(200, [r.model_dump(mode="json") for r in fake.config.faults])
            if m == "PUT":
                body = _body(req)
                if not isinstance(body, list):
                    raise ConfigError("PUT /_gatedrill/faults takes a JSON array of fault rules")
                fake.set_faults(body)
                return _json(200, [r.model_dump(mode="json") for r in fake.config.faults])
            if m == "POST":
                fake.add_fault(_body(req))
                return _json(200, [r.model_dump(mode="json") for r in fake.config.faults])
            if m == "DELETE":
                fake.clear_faults()
                return _json(200, [])
        if what == "journal" and m == "GET":
            return _json(200, fake.query_journal(req.query))
        if what == "reset" and m == "POST":
            fake.reset()
            return _json(200, {"status": "reset"})
        if what == "metrics" and m == "GET":
            body = render_metrics(fake)
            return Plan(200, [("content-type", "text/plain; version=0.0.4; charset=utf-8")], [(0.0, body)],
                        content_length=len(body))
    except ConfigError as exc:
        return _error(422, str(exc))
    except ValueError as exc:
        return _error(422, str(exc))
    return _error(404, f"no control endpoint {m} /_gatedrill/{what}; see GET /_gatedrill/health")


def _body(req: HttpRequest) -> Any:
    try:
        return orjson.loads(req.body)
    except orjson.JSONDecodeError:
        raise ConfigError("the body is not valid JSON") from None
