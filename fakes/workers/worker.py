"""One worker process of a fake served by several: it serves the fake's traffic on its share of the port, applies the
control changes its parent broadcasts, and forwards every control request it receives to the parent, which answers
for the whole fake.

`python -m gatedrill.fakes.workers LISTEN_FD OPS_FD CALLS_FD REGION_FD`: the parent's first message on OPS carries the
config (never the command line: it may hold api_keys). The worker exits on SIGTERM/SIGINT, and when OPS reaches end of
file (its parent is gone).
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any

from ..config import FakeConfig
from ..control import CONTROL_TOKEN_HEADER
from ..errors import GatedrillError
from ..fake import CONTROL_PREFIX, Fake
from ..plan import HttpRequest, Plan
from ..server import serve_forever
from .channel import Channel, ChannelClosed
from .region import SharedRegion
from .shared_state import WorkerState

_WORKERS_BUSY = b'{"error": {"message": "the fake\'s control plane is gone (its workers are stopping)"}}'


def main(argv: list[str] | None = None) -> int:
    listen_fd, ops_fd, calls_fd, region_fd = (int(a) for a in (sys.argv[1:] if argv is None else argv))
    ops = Channel(socket.socket(fileno=ops_fd))
    calls = Channel(socket.socket(fileno=calls_fd))
    try:
        start = ops.recv()
    except ChannelClosed:  # the parent stopped (a Ctrl-C) before sending the config: nothing to serve
        return 0
    state = WorkerState(SharedRegion(region_fd), start["index"], start["generation"], start["installed"])
    try:
        fake = Fake(FakeConfig.model_validate(start["config"]), state=state)
    except (GatedrillError, ValueError) as exc:
        ops.send({"error": str(exc)})
        return 2

    def handle(req: HttpRequest) -> Plan:
        return forward(calls, req) if req.path.startswith(CONTROL_PREFIX) else fake.handle(req)

    def ready(_line: str) -> None:
        ops.send({"pid": os.getpid()})
        threading.Thread(target=serve_ops, args=(ops, fake, state), name="worker-ops", daemon=True).start()

    try:
        serve_forever([fake], ready, handlers=[handle], socks=[socket.socket(fileno=listen_fd)])
    except GatedrillError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def forward(calls: Channel, req: HttpRequest) -> Plan:
    """A control request, answered by the parent for the whole fake (this worker waits for the answer, as a single
    fake's loop is busy while it applies a change)."""
    try:
        reply = calls.call({"method": req.method, "path": req.path, "query": req.query,
                            "token": req.headers.get(CONTROL_TOKEN_HEADER), "body": req.body.decode("latin-1")})
        status, headers, body = reply["status"], [tuple(h) for h in reply["headers"]], reply["body"].encode("latin-1")
    except ChannelClosed:
        status, headers, body = 503, [("content-type", "application/json")], _WORKERS_BUSY
    return Plan(status, headers, [(0.0, body)], content_length=len(body))


def _stop_this_process() -> None:
    os.kill(os.getpid(), signal.SIGTERM)


def serve_ops(ops: Channel, fake: Fake, state: WorkerState, on_close: Callable[[], None] = _stop_this_process) -> None:
    """Apply the parent's messages in order, one reply each; at end of file stop as on SIGTERM (journal flushed)."""
    while True:
        try:
            msg = ops.recv()
        except ChannelClosed:
            break
        try:
            reply = apply(msg, fake, state)
        except (GatedrillError, ValueError) as exc:
            reply = {"error": str(exc)}
        except Exception as exc:  # a bug of ours: say so, keep serving
            reply = {"error": f"internal error in worker {state.index}: {type(exc).__name__}: {exc}"}
        try:
            ops.send(reply)
        except ChannelClosed:
            break
    on_close()


def apply(msg: dict[str, Any], fake: Fake, state: WorkerState) -> dict[str, Any]:
    op = msg["op"]
    if "generation" in msg:  # the fault-rule list the next plan belongs to
        state.generation, state.installed = msg["generation"], msg["installed"]
    if op == "patch":
        return {"config": shown(fake.patch(msg["patch"]))}
    if op == "reset":
        fake.reset()
        return {}
    if op == "journal":
        return fake.query_journal(msg["query"])
    if op == "counts":
        m = fake.metrics
        return {"requests": [[*k, n] for k, n in dict(m.requests).items()],
                "tokens": [[*k, n] for k, n in dict(m.tokens).items()], "journal": fake.journal.stats(),
                "pid": os.getpid(), "config": shown(fake.config)}
    raise ValueError(f"unknown worker operation {op!r}")


def shown(config: FakeConfig) -> dict[str, Any]:
    """A config as the workers compare it: everything but the journal (each worker journals to its own file)."""
    data = config.model_dump(mode="json")
    data.pop("journal", None)
    return data


if __name__ == "__main__":
    sys.exit(main())
