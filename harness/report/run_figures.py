"""What happened in a run, from the run record alone: requests, errors, rates, where traffic went, the timeline.

The terminal summary, the JSON report and the HTML header all read these same figures.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..checks.fault_windows import WARM_UP, load_start, run_end
from ..record import RunRecord
from .redact import redact


def is_error(client: dict[str, Any]) -> bool:
    """A client request that did not succeed: no 2xx, or an error class (a broken stream counts)."""
    return not (200 <= (client.get("status") or 0) < 300) or client.get("error_class") is not None


def iso_utc(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def run_figures(record: RunRecord) -> dict[str, Any]:
    """Run-level figures (JSON-ready, redacted): drill, gateway, outcome, counts, rates, upstreams, timeline."""
    meta, summary = record.meta, record.load_summary
    clients = [c for c in record.clients if c.get("correlation_id") != WARM_UP]
    attempts = {name: [e for e in entries if e.get("correlation_id") != WARM_UP]
                for name, entries in record.journals.items()}
    total = sum(len(v) for v in attempts.values())
    t0 = load_start(record)
    upstreams = {
        name: {"attempts": len(entries), "share": round(len(entries) / total, 5) if total else None,
               "failed": sum(1 for e in entries if not (200 <= (e.get("status") or 0) < 300))}
        for name, entries in attempts.items()
    }
    timeline = [{"at_s": ev.get("applied_s", ev.get("planned_s")), "planned_s": ev.get("planned_s"),
                 "action": ev.get("action"), "upstream": ev.get("upstream"), "note": ev.get("note"),
                 "ok": bool(ev.get("ok", True)), "detail": ev.get("detail") or ""} for ev in record.timeline]
    return redact({
        "drill": meta.get("scenario") or record.scenario.name,
        "description": record.scenario.description.strip(),
        "gateway": meta.get("gateway") or {},
        "outcome": meta.get("outcome"),
        "error": meta.get("error"),
        "seed": meta.get("seed"),
        "scale": meta.get("scale"),
        "config_hash": meta.get("config_hash"),
        "versions": meta.get("versions") or {},
        "started": iso_utc(meta.get("load_start_wall")),
        "load_start_wall": t0,
        "duration_s": round(max(0.0, run_end(record) - t0), 3),
        "requests": len(clients),
        "client_errors": sum(1 for c in clients if is_error(c)),
        "achieved_rate": summary.get("achieved_rate"),
        "target_rate": summary.get("target_rate"),
        "upstreams": upstreams,
        "upstream_attempts": total,
        "timeline": timeline,
        "warnings": list(summary.get("warnings") or []),
        "record": str(record.path),
    })
