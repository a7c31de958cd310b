"""What happened in a run, from the run record alone: requests, errors, rates, where traffic went, the timeline.

The terminal summary, the JSON report and the HTML header all read these same figures.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..record import WARM_UP, ClientRecord, RunRecord, TimelineEvent
from ..scenario import SetWeights
from .redact import redact


def is_error(client: ClientRecord) -> bool:
    """A client request that did not succeed: no 2xx, or an error class (a broken stream counts)."""
    return not (200 <= client.status < 300) or client.error_class is not None


def iso_utc(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def action_text(ev: TimelineEvent) -> str:
    """A timeline action as reports name it: a weight change with the weights it set (a migration's steps)."""
    if isinstance(ev.spec, SetWeights):
        return ev.action + " " + " ".join(f"{u}={w:g}" for u, w in ev.spec.weights.items())
    return " ".join(str(x) for x in (ev.mark or ev.action, ev.upstream) if x)


def run_figures(record: RunRecord) -> dict[str, Any]:
    """Run-level figures (JSON-ready, redacted): drill, gateway, outcome, counts, rates, upstreams, timeline."""
    meta, summary = record.meta, record.load_summary
    clients = [c for c in record.clients if c.correlation_id != WARM_UP]
    attempts = {name: [e for e in entries if e.correlation_id != WARM_UP] for name, entries in record.journals.items()}
    total = sum(len(v) for v in attempts.values())
    t0 = record.load_start()
    upstreams = {
        name: {"attempts": len(entries), "share": round(len(entries) / total, 5) if total else None,
               "failed": sum(1 for e in entries if not (200 <= (e.status or 0) < 300))}
        for name, entries in attempts.items()
    }
    timeline = [{"at_s": ev.at_s, "planned_s": ev.planned_s, "action": ev.action, "upstream": ev.upstream,
                 "what": action_text(ev), "note": ev.note, "ok": ev.ok, "detail": ev.detail, "mechanism": ev.mechanism,
                 "effective_s": ev.effective_s} for ev in record.timeline]
    return redact({
        "drill": meta.scenario or record.scenario.name,
        "description": record.scenario.description.strip(),
        "gateway": meta.gateway.model_dump(mode="json"),
        "outcome": meta.outcome,
        "error": meta.error,
        "seed": meta.seed,
        "scale": meta.scale,
        "config_hash": meta.config_hash,
        "versions": meta.versions,
        "started": iso_utc(meta.load_start_wall),
        "load_start_wall": t0,
        "duration_s": round(max(0.0, record.run_end() - t0), 3),
        "requests": len(clients),
        "client_errors": sum(1 for c in clients if is_error(c)),
        "achieved_rate": summary.achieved_rate,
        "target_rate": summary.target_rate,
        "upstreams": upstreams,
        "upstream_attempts": total,
        "timeline": timeline,
        "warnings": summary.warnings,
        "record": str(record.path),
    })
