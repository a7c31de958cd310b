"""A distributed run's news, as the lines a console shows: where the master listens, who joined, who died."""

from __future__ import annotations

from typing import Any


def event_line(msg: dict[str, Any], remote_workers: int = 0) -> str | None:
    """The line for one of the master's messages (`master`, `worker_joined`, `worker_died`); None for others."""
    kind = msg.get("type")
    if kind == "master":
        line = f"load master listening on {msg.get('host')}:{msg.get('port')} for {msg.get('workers')} workers"
        if remote_workers:
            line += (f"; waiting for {remote_workers} to join from other hosts: "
                     f"gatedrill worker --master HOST:{msg.get('port')}")
            if str(msg.get("host")) in ("127.0.0.1", "::1", "localhost"):
                line += " (it listens on loopback only: other hosts need --master-bind ADDR:PORT)"
        return line
    if kind == "worker_joined":
        return f"load worker {msg.get('worker')} joined from {msg.get('host')} (pid {msg.get('pid')})"
    if kind == "worker_died":
        return (f"load worker {msg.get('worker')} ({msg.get('host')}) died {msg.get('after_s')} s into the load; "
                f"its arrivals not yet started count as not sent")
    return None
