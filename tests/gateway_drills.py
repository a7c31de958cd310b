"""Short drills for the real-gateway tests (LiteLLM, Portkey): a canary split and a failover, small enough to run
end to end in well under a minute each, plus what the tests read back from their run records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gatedrill.harness.checks import Verdict, judge
from gatedrill.harness.record import RunRecord
from gatedrill.harness.runner import RunOptions, run
from gatedrill.harness.scenario import Scenario

LATENCY = {"ttft_ms": {"dist": "lognormal", "median": 20, "sigma": 0.3}, "itl_ms": 2}
FAULT_AT, CLEAR_AT = 3.0, 9.0


def proxy_scenario(kind: str, routing: dict[str, Any], upstreams: dict[str, Any] | None = None,
                   backup_model: str = "gpt-4o-mini", **extra: Any) -> Scenario:
    """A short drill for a proxy gateway's own tests (nginx, HAProxy): stable, canary and backup OpenAI fakes."""
    def fake(model: str) -> dict[str, Any]:
        return {"provider": "openai", "models": [{"id": model}], "latency": {"ttft_ms": 10, "itl_ms": 1}}

    ups = upstreams or {"stable": fake("gpt-4o-mini"), "canary": fake("gpt-4o-mini"), "backup": fake(backup_model)}
    data = {"name": f"{kind}-test", "seed": 3, "duration_s": 6, "upstreams": ups,
            "gateway": {"kind": kind, "routing": routing},
            "load": {"arrivals": {"profile": "poisson", "rate": 20}, "mix": {"stream_share": 0.3}}} | extra
    return Scenario.model_validate(data)


def split_drill(kind: str, rate: float = 15.0, duration_s: float = 10.0) -> Scenario:
    """A 75/25 canary between two healthy OpenAI upstreams, 30% streamed."""
    model = {"provider": "openai", "models": [{"id": "gpt-4o-mini"}], "latency": LATENCY}
    return Scenario.model_validate({
        "name": f"{kind}-split", "seed": 5, "duration_s": duration_s,
        "upstreams": {"stable": model, "canary": model},
        "gateway": {"kind": kind, "routing": {"targets": [
            {"upstream": "stable", "model": "gpt-4o-mini", "weight": 75},
            {"upstream": "canary", "model": "gpt-4o-mini", "weight": 25}]}},
        "load": {"arrivals": {"profile": "poisson", "rate": rate}, "mix": {"stream_share": 0.3}},
        "checks": {"canary_split": {"alpha": 0.001}, "streaming_integrity": {}},
    })


def failover_drill(kind: str, rate: float = 12.0) -> Scenario:
    """The OpenAI primary answers 500 from 3 s to 9 s; an Anthropic fallback must carry the traffic meanwhile."""
    return Scenario.model_validate({
        "name": f"{kind}-failover", "seed": 6, "duration_s": 12,
        "upstreams": {"primary": {"provider": "openai", "models": [{"id": "gpt-4o-mini"}], "latency": LATENCY},
                      "secondary": {"provider": "anthropic", "models": [{"id": "claude-haiku-4-5"}],
                                    "latency": LATENCY}},
        "gateway": {"kind": kind, "routing": {
            "targets": [{"upstream": "primary", "model": "gpt-4o-mini"}], "fallbacks": ["secondary"],
            "retry": {"attempts": 1}, "cooldown": {"failures": 3, "window_s": 3, "cooldown_s": 3}, "timeout_s": 5}},
        "load": {"arrivals": {"profile": "poisson", "rate": rate}, "mix": {"stream_share": 0.3}},
        "timeline": [{"at_s": FAULT_AT, "action": "set_faults", "upstream": "primary",
                      "faults": [{"fault": {"kind": "http_error", "status": 500}}]},
                     {"at_s": CLEAR_AT, "action": "clear_faults", "upstream": "primary"}],
        "checks": {"rollback": {"upstream": "primary", "max_detection_s": 2.0, "max_client_error_rate": 0.02},
                   "error_mapping": {}},
    })


def run_drill(scenario: Scenario, out: Path, notices: list[str] | None = None) -> tuple[RunRecord, dict[str, Verdict]]:
    """Run and judge; `notices` collects what the runner says before the run (the gateway's limitations)."""
    said = notices if notices is not None else []
    outcome = run(scenario, RunOptions(gateway=scenario.gateway.kind, out=out, notice=said.append))
    rec = RunRecord.load(outcome.path)
    assert rec.meta.outcome == "completed"
    return rec, {v.check: v for v in judge(rec)}


def served_by(rec: RunRecord) -> dict[str, str]:
    """Correlation id -> the upstream whose successful attempt answered it (journals: ground truth)."""
    out = {}
    for cid, attempts in rec.journal_by_correlation().items():
        ok = [a for a in attempts if a.status == 200]
        if ok:
            out[cid] = ok[-1].upstream
    return out


def load_t(rec: RunRecord, client: dict[str, Any]) -> float:
    """A client request's intended send time, in seconds after the load's start."""
    return float(client.intended_s) - float(rec.meta.load_start_wall)




def weights_drill(kind: str, changes: list[tuple[float, dict[str, float]]], rate: float = 20.0,
                  duration_s: float = 12.0, itl_ms: float = 2.0) -> Scenario:
    """A 90/10 canary whose weights the timeline changes at each (at_s, weights); 30% streamed (`itl_ms` sets how
    long a stream lasts: 64 tokens, so 10 ms keeps streams open across a change)."""
    model = {"provider": "openai", "models": [{"id": "gpt-4o-mini"}],
             "latency": {"ttft_ms": {"dist": "lognormal", "median": 20, "sigma": 0.3}, "itl_ms": itl_ms}}
    return Scenario.model_validate({
        "name": f"{kind}-weights", "seed": 11, "duration_s": duration_s,
        "upstreams": {"stable": model, "canary": model},
        "gateway": {"kind": kind, "routing": {"targets": [
            {"upstream": "stable", "model": "gpt-4o-mini", "weight": 90},
            {"upstream": "canary", "model": "gpt-4o-mini", "weight": 10}]}},
        "load": {"arrivals": {"profile": "poisson", "rate": rate}, "mix": {"stream_share": 0.3}},
        "timeline": [{"at_s": at, "action": "set_weights", "weights": w} for at, w in changes],
        "checks": {"canary_split": {"alpha": 0.001}, "streaming_integrity": {}},
    })


def canary_share(rec: RunRecord, start_s: float, end_s: float) -> tuple[float, int]:
    """The canary's share of the gateway's first picks (journals) among requests arriving in [start_s, end_s) after
    load start, and how many there were."""
    from gatedrill.harness.weight_effect import first_picks

    t0 = float(rec.meta.load_start_wall or 0.0)
    picks = [u for t, u in first_picks(rec.journals) if start_s <= t - t0 < end_s]
    return (picks.count("canary") / len(picks) if picks else 0.0), len(picks)
