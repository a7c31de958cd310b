"""The control arm's connection and records, inside the worker: a seeded share of arrivals is sent, identically,
straight to a fake (bypassing the gateway), so its latency shares the run's conditions (Kayenta's same-time
baseline). Only the worker imports this module (its pool uses gevent sockets)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from .connection import Pool
from .conversation import chat_path
from .records import RecordSink

RUN_ID_SUFFIX = "-ctl"  # control sessions are RUN_ID-ctl-sN: their correlation ids never meet the gateway arm's


@dataclass
class ControlArm:
    url: str
    path: str
    pool: Pool
    writer: RecordSink

    @classmethod
    def open(cls, url: str, writer: RecordSink, connect_timeout: float) -> ControlArm:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"control arm URL must be http://host:port, not {url!r}")
        pool = Pool(parts.hostname, parts.port or 80, timeout=0, connect_timeout=connect_timeout)
        return cls(url, chat_path(url), pool, writer)

    def close(self) -> None:
        self.writer.close()
        self.pool.close()
