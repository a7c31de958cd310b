"""The control API, under the reserved prefix /_gatedrill/ on every fake's own port.

GET  health | config | faults | journal?cursor=&limit=&model=&status=... | metrics
PATCH config (JSON merge patch)   PUT faults (replace)   POST faults (add one)   DELETE faults
POST reset
A change is validated first; a bad one gets 422 with the reason and changes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from .errors import ConfigError
from .metrics import render_metrics
from .plan import HttpRequest, Plan

if TYPE_CHECKING:
    from .fake import Fake


def _json(status: int, obj: Any) -> Plan:
    body = orjson.dumps(obj, default=str)
    return Plan(status, [("content-type", "application/json")], [(0.0, body)], content_length=len(body))


def _error(status: int, message: str) -> Plan:
    return _json(status, {"error": {"message": message}})


def handle_control(fake: Fake, req: HttpRequest) -> Plan:
    what = req.path[len("/_gatedrill/"):].strip("/")
    m = req.method
    try:
        if what == "health" and m == "GET":
            return _json(200, {"status": "ok", "name": fake.config.name, "provider": fake.config.provider,
                               "journal": fake.journal.stats()})
        if what == "config":
            if m == "GET":
                return _json(200, fake.config.model_dump(mode="json"))
            if m == "PATCH":
                return _json(200, fake.patch(_body(req)).model_dump(mode="json"))
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
