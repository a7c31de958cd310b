"""The control plane of a fake served by several workers: it answers every control request for the whole fake.

- A change (config patch, fault rules, reset) is validated first by a probe `Fake` built from the current config, with
  the single fake's own rules; a rejected change reaches no worker. An accepted one is sent to every worker, and the
  call returns once each has applied it and reported the resulting config, compared with the expected one. A worker
  that refuses or differs has the change undone on every worker that took it, and the call fails (500).
- Reads merge the workers: health and metrics sum their counts; the journal pages through every worker's journal at
  once, in arrival order, and its cursor holds one position per worker (`"12.7"` for two workers).
- `GET /_gatedrill/workers` lists each worker's pid, journal counts and a digest of its config.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import threading
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, urlencode

import orjson

from ..config import FakeConfig, JournalSpec, merge_patch
from ..control import CONTROL_TOKEN_HEADER, authorised, handle_control
from ..errors import ConfigError, GatedrillError
from ..fake import Fake
from ..fault_edits import FaultEdits
from ..metrics import FakeMetrics
from ..plan import HttpRequest, Plan
from .channel import Channel, ChannelClosed
from .region import MAX_RULES, SharedRegion
from .worker import shown

_STATS = ("total", "finished", "in_memory", "evicted", "dropped", "open")


class GroupError(GatedrillError):
    """A worker failed to apply a change the group had accepted (it was undone everywhere), or is gone."""


class _Figures:
    """The whole fake's journal counts, for health and metrics."""

    def __init__(self, group: GroupControl) -> None:
        self._group = group

    def stats(self) -> dict[str, int]:
        return _sum_stats([c["journal"] for c in self._group.counts()])


class GroupControl(FaultEdits):
    """Answers the control API for `workers` (one ops channel each) sharing `region`; serialises every call."""

    def __init__(self, config: FakeConfig, workers: Sequence[Channel], region: SharedRegion) -> None:
        self._config = config
        self._workers = list(workers)
        self._region = region
        self._lock = threading.RLock()
        self._generation = 0

    # -- what the control API reads -----------------------------------------------------------------------------

    @property
    def config(self) -> FakeConfig:
        return self._config

    @property
    def journal(self) -> _Figures:
        return _Figures(self)

    @property
    def metrics(self) -> FakeMetrics:
        merged = FakeMetrics()
        for c in self.counts():
            for *key, n in c["requests"]:
                merged.requests[tuple(key)] += n
            for *key, n in c["tokens"]:
                merged.tokens[tuple(key)] += n
        return merged

    def counts(self) -> list[dict[str, Any]]:
        return self._broadcast({"op": "counts"})

    def workers(self) -> list[dict[str, Any]]:
        return [{"worker": i, "pid": c["pid"], "journal": c["journal"],
                 "config_sha256": hashlib.sha256(orjson.dumps(c["config"], option=orjson.OPT_SORT_KEYS)).hexdigest()}
                for i, c in enumerate(self.counts())]

    def query_journal(self, query: str) -> dict[str, Any]:
        """One page of the whole fake's journal: each worker's page from its own position, merged by arrival."""
        q = {k: v[-1] for k, v in parse_qs(query).items()}
        cursors = self._cursors(q.pop("cursor", q.pop("since", "0")) or "0")
        limit = max(1, min(int(q.get("limit", "1000") or 1000), 10_000))
        with self._lock:
            pages = self._broadcast([{"op": "journal", "query": urlencode({**q, "cursor": c})} for c in cursors])
        for page in pages:
            if "error" in page:  # a filter the fake does not know: the single fake's own 422
                raise ConfigError(page["error"])
        # each worker's entries stay in its own seq order (arrival stamps within a worker are not quite monotone in
        # seq), so what a page takes from a worker is a prefix of that worker's page and its cursor stays exact
        runs = [[(e["arrival_mono"], i, e) for e in p["entries"]] for i, p in enumerate(pages)]
        taken = list(itertools.islice(heapq.merge(*runs, key=lambda t: (t[0], t[1])), limit))
        count = [0] * len(pages)
        for _, i, _e in taken:
            count[i] += 1
        following = [page["next_cursor"] if count[i] == len(page["entries"])  # all of this worker's page went out
                     else page["entries"][count[i] - 1]["seq"] + 1 if count[i] else cursors[i]
                     for i, page in enumerate(pages)]
        entries = [{"worker": i, **e} for _, i, e in taken]
        return {"entries": entries, "next_cursor": ".".join(str(c) for c in following),
                **_sum_stats([{k: p[k] for k in _STATS} for p in pages])}

    def _cursors(self, text: str) -> list[int]:
        n = len(self._workers)
        parts = text.split(".")
        if parts == ["0"]:
            return [0] * n
        if len(parts) != n or not all(p.isdigit() for p in parts):
            raise ConfigError(f"this fake has {n} workers: its journal cursor is the `next_cursor` of the previous "
                              f"page ({n} numbers joined by dots), or 0 to start")
        return [int(p) for p in parts]

    # -- changes ------------------------------------------------------------------------------------------------

    def patch(self, patch: dict[str, Any]) -> FakeConfig:
        with self._lock:
            old = self._config
            new = self._validated(patch)
            message: dict[str, Any] = {"op": "patch", "patch": {k: v for k, v in patch.items() if k != "journal"}}
            if [r.model_dump(mode="json") for r in new.faults] != [r.model_dump(mode="json") for r in old.faults]:
                message |= self._new_generation()
            self._apply_everywhere(message, shown(new), undo=_undo_patch(shown(new), shown(old)), before=old)
            self._config = new
            return new

    def reset(self) -> None:
        """Every worker clears its journal, metrics and fault counters; the shared buckets are cleared once."""
        with self._lock:
            replies = self._broadcast({"op": "reset", **self._new_generation()})
            with self._region.lock:
                self._region.clear_buckets()
            _raise_errors(replies)

    def _validated(self, patch: Any) -> FakeConfig:
        """The config `patch` makes, by the single fake's rules (a probe that serves nothing), or ConfigError. The
        probe journals in memory only; `journal` is checked here, as `Fake.patch` would."""
        if isinstance(patch, dict) and "journal" in patch:
            journal = self._config.journal.model_dump(mode="json")
            if merge_patch(journal, patch["journal"]) != journal:
                raise ConfigError("`journal` cannot change at runtime; start another fake instead")
            patch = {k: v for k, v in patch.items() if k != "journal"}
        probe = Fake(self._config.model_copy(update={"journal": JournalSpec()}))
        try:
            new = probe.patch(patch)
        finally:
            probe.close()
        if len(new.faults) > MAX_RULES:
            raise ConfigError(f"a fake with workers takes at most {MAX_RULES} fault rules")
        return new.model_copy(update={"journal": self._config.journal})

    def _new_generation(self) -> dict[str, Any]:
        """Start a new fault-rule list's shared counters; older plans stop sharing them."""
        self._generation += 1
        with self._region.lock:
            self._region.install_faults(self._generation)
        return {"generation": self._generation, "installed": time.monotonic()}

    def _apply_everywhere(self, message: dict[str, Any], expected: dict[str, Any], undo: dict[str, Any],
                          before: FakeConfig) -> None:
        replies = self._broadcast(message)
        bad = [i for i, r in enumerate(replies) if r.get("config") != expected]
        if not bad:
            return
        took = [i for i, r in enumerate(replies) if "config" in r]
        back = {"op": "patch", "patch": undo}
        if message.get("generation") is not None:
            back |= self._new_generation()
        self._broadcast([back if i in took else None for i in range(len(self._workers))])
        self._config = before
        reasons = "; ".join(f"worker {i}: {replies[i].get('error', 'a different config')}" for i in bad)
        raise GroupError(f"the change was undone on every worker: {reasons}")

    def _broadcast(self, message: dict[str, Any] | list[dict[str, Any] | None]) -> list[dict[str, Any]]:
        """Send to every worker (one message, or one each; None skips a worker), then collect every reply."""
        with self._lock:
            msgs = message if isinstance(message, list) else [message] * len(self._workers)
            try:
                for ch, m in zip(self._workers, msgs, strict=True):
                    if m is not None:
                        ch.send(m)
                return [ch.recv() if m is not None else {} for ch, m in zip(self._workers, msgs, strict=True)]
            except ChannelClosed as exc:
                raise GroupError(f"a worker of fake {self._config.name!r} is gone ({exc})") from None

    # -- the HTTP side ------------------------------------------------------------------------------------------

    def answer(self, call: dict[str, Any]) -> dict[str, Any]:
        """A control request a worker forwarded, answered for the whole fake (as `fakes.control` answers one fake)."""
        headers = {CONTROL_TOKEN_HEADER: call["token"]} if call.get("token") is not None else {}
        body = call["body"].encode("latin-1")
        req = HttpRequest(call["method"], call["path"], call["query"], headers, body, 0.0, 0.0, len(body))
        try:
            if req.path.rstrip("/") == "/_gatedrill/workers" and req.method == "GET":
                plan = _json(200, self.workers()) if authorised(self, req) else handle_control(self, req)
            else:
                plan = handle_control(self, req)
        except GatedrillError as exc:
            plan = _json(500, {"error": {"message": str(exc)}})
        answer = b"".join(c for _, c in plan.chunks)
        return {"status": plan.status, "headers": plan.headers, "body": answer.decode("latin-1")}


def _json(status: int, obj: Any) -> Plan:
    body = orjson.dumps(obj)
    return Plan(status, [("content-type", "application/json")], [(0.0, body)], content_length=len(body))


def _sum_stats(stats: list[dict[str, int]]) -> dict[str, int]:
    return {k: sum(s.get(k, 0) for s in stats) for k in _STATS}


def _raise_errors(replies: list[dict[str, Any]]) -> None:
    errors = [f"worker {i}: {r['error']}" for i, r in enumerate(replies) if "error" in r]
    if errors:
        raise GroupError("; ".join(errors))


def _undo_patch(new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    """A merge patch that takes a config from `new` back to `old` (both full dumps: every key on both sides)."""
    return {k: old.get(k) for k in set(new) | set(old) if new.get(k) != old.get(k)}
