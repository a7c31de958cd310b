"""How a distributed load is split across workers and put back together: pure functions, no gevent, no Locust.

The seeded arrival schedule is the same in every worker; worker `index` of `count` sends arrival i when
i mod count == index (`Share`), as session i, with the same control-arm coin, so a seed gives the same requests
(the same correlation ids, prompts and intended times) however many workers send them. `max_requests` is split
the same way. The master folds the workers' summaries into one of the shape a single generator writes
(`merge_summaries`): counts add up, and latency histograms merge as HDR histograms (never by averaging
percentiles). A worker that died mid-run keeps the arrivals it never started as *unsent* (the generator's loss,
not the gateway's); the ones it had in flight when it died are reported apart, since their outcome is unknown.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from .histogram import LatencyHistogram
from .schedule import arrival_times, expected_arrivals
from .spec import LoadSpec

HISTOGRAMS = ("latency", "service", "ttft", "send_lag")
_COUNTS = ("requests", "ok", "errors", "sessions", "streams", "streams_clean", "bytes")
_BREAKDOWNS = ("by_status", "by_error", "by_upstream")
# worker states in a distributed summary
FINISHED, DIED = "finished", "died"


@dataclass(frozen=True, slots=True)
class Share:
    """Worker `index` of `count`: the arrivals, sessions and request budget it owns."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(f"worker index {self.index} is not within 0..{self.count - 1}")

    def owns(self, arrival: int) -> bool:
        return arrival % self.count == self.index

    def budget(self, total: int) -> int:
        """This worker's part of a request budget: the first `total` arrivals' owners get one each."""
        return total // self.count + (self.index < total % self.count)

    def session_index(self, k: int) -> int:
        """Closed model: the index of this worker's k-th session (disjoint across workers)."""
        return k * self.count + self.index


def session_owner(session_id: str | None, count: int) -> int | None:
    """Which of `count` workers sent the session (`RUNID-sINDEX`: index mod count, the rule `Share` deals by), or
    None when the id is not one of ours."""
    _, _, index = (session_id or "").rpartition("-s")
    return int(index) % count if index.isdigit() and count > 0 else None


def owned_arrivals(spec: LoadSpec, duration_s: float, seed: int, share: Share) -> int:
    """How many scheduled arrivals belong to `share` (0 in closed mode, which has no schedule)."""
    if spec.mode != "open" or spec.arrivals is None:
        return 0
    return sum(1 for i, _ in enumerate(arrival_times(spec.arrivals, duration_s, seed)) if share.owns(i))


def merge_histograms(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Serialised `LatencyHistogram`s merged bucket by bucket (HDR add), as one serialised histogram."""
    merged = LatencyHistogram()
    for p in parts:
        merged.merge(LatencyHistogram.from_dict(p or {}))
    return merged.to_dict()


def merge_tallies(tallies: list[dict[str, Any]]) -> dict[str, Any]:
    """`Tally.to_dict()`s of disjoint request sets, as the tally of all of them."""
    out: dict[str, Any] = {k: sum(int(t.get(k) or 0) for t in tallies) for k in _COUNTS}
    for key in _BREAKDOWNS:
        total: Counter[str] = Counter()
        for t in tallies:
            total.update({str(k): int(v) for k, v in (t.get(key) or {}).items()})
        out[key] = dict(sorted(total.items()))
    for key in HISTOGRAMS:
        out[key] = merge_histograms([t.get(key) or {} for t in tallies])
    return out


def _stop_reason(reasons: list[str]) -> str:
    """The run's stop reason: a failure or cancellation anywhere wins, then an early stop, then the duration."""
    for first in ("generator_error", "parent_gone", "cancelled", "master_gone", "stopped", "max_requests"):
        if first in reasons:
            return first
    return reasons[0] if reasons else "duration"


def merge_summaries(spec: LoadSpec, workers: list[dict[str, Any]], base: dict[str, Any]) -> dict[str, Any]:
    """One summary of a single generator's shape from the workers' (`Driver.summary()` plus `index`, `state` and,
    for one that died, `scheduled_arrivals`/`started_arrivals` as last known). `base` holds what the master knows
    itself (run_id, url, t0, records, locust); `load_workers` and `workers` say who produced it."""
    duration = float(base["duration_s"])
    summed = {k: sum(int(w.get(k) or 0) for w in workers)
              for k in ("scheduled_arrivals", "started_arrivals", "unsent_arrivals", "requests_sent", "pool_waits",
                        "max_in_flight_seen")}
    died = [w for w in workers if w.get("state") == DIED]
    unsent_died = sum(max(0, int(w.get("scheduled_arrivals") or 0) - int(w.get("started_arrivals") or 0))
                      for w in died)
    target = None
    if spec.mode == "open" and spec.arrivals is not None:
        target = expected_arrivals(spec.arrivals, duration) / duration
    controls = [w["control"] for w in workers if w.get("control")]
    failures = [str(w["failure"]) for w in workers if w.get("failure")]
    return {
        **base,
        "mode": spec.mode, "ran_s": max((float(w.get("ran_s") or 0.0) for w in workers), default=0.0),
        "stop_reason": _stop_reason([str(w.get("stop_reason")) for w in workers if w.get("state") != DIED]),
        **summed,
        "target_rate": target, "achieved_rate": summed["started_arrivals"] / duration,
        "max_in_flight": spec.max_in_flight,
        "cpu_s": round(sum(float(w.get("cpu_s") or 0.0) for w in workers), 3),
        "tally": merge_tallies([w.get("tally") or {} for w in workers]),
        "failure": failures[0] if failures else None,
        "control": None if not controls else {
            **controls[0], "records": base.get("control_records", sum(int(c.get("records") or 0) for c in controls)),
            "records_path": base.get("control_records_path"),
            "skipped_pool_full": sum(int(c.get("skipped_pool_full") or 0) for c in controls)},
        "load_workers": len(workers),
        "unsent_worker_died": unsent_died,
        "workers": [_worker_row(w) for w in sorted(workers, key=lambda w: int(w["index"]))],
    }


def _worker_row(w: dict[str, Any]) -> dict[str, Any]:
    """What the summary keeps of one worker: who, what it sent, how it ended (its tally is in the merged one)."""
    scheduled, started = int(w.get("scheduled_arrivals") or 0), int(w.get("started_arrivals") or 0)
    row = {"index": int(w["index"]), "host": w.get("host"), "pid": w.get("pid"), "state": w.get("state", FINISHED),
           "stop_reason": w.get("stop_reason"), "scheduled_arrivals": scheduled, "started_arrivals": started,
           "unsent_arrivals": int(w.get("unsent_arrivals") or 0), "records": int((w.get("tally") or {}).get(
               "requests") or 0), "cpu_s": w.get("cpu_s"), "send_lag_p99_ms": ((w.get("tally") or {}).get(
                   "send_lag") or {}).get("p99_ms")}
    if w.get("state") == DIED:
        row |= {"died_after_s": w.get("died_after_s"), "last_heard_s": w.get("last_heard_s"),
                "in_flight_at_death": int(w.get("in_flight") or 0)}
    return row


def parse_address(text: str, default_port: int | None = None) -> tuple[str, int]:
    """HOST:PORT (or [IPv6]:PORT) as (host, port); a bare HOST takes `default_port` when one is given."""
    host, sep, port = text.rpartition(":")
    if not sep or "]" in port:
        host, port = text, ""
    host = host.strip("[]")
    if not port:
        if default_port is None:
            raise ValueError(f"{text!r} is not HOST:PORT")
        return host, default_port
    if not port.isdigit() or not 0 <= int(port) <= 65535 or not host:
        raise ValueError(f"{text!r} is not HOST:PORT")
    return host, int(port)


def local_address(bind_host: str) -> str:
    """The address a local worker dials for a master bound to `bind_host` (any-address binds: loopback)."""
    return "127.0.0.1" if bind_host in ("*", "0.0.0.0", "") else ("::1" if bind_host == "::" else bind_host)

