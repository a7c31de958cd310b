"""The same-run control arm, on the runner's side: the control fake it sends to, and where its records live.

Kayenta's lesson is to judge a canary against a baseline that shares its conditions, not against a fixed number.
Here the baseline is the path without the gateway: a seeded share of arrivals (`load.control_share`, 10% by
default) is also sent, identically and at the same intended time, straight to a control fake. That fake copies
the baseline upstream (the most weighted target's upstream: its latency, replies, tokenizer and the target
model's window), speaks OpenAI (the load's own dialect), answers the public model name, and has no faults or rate
limits; it runs in the fakes' process, so host noise reaches both arms alike.

Its records stay apart from the gateway's, so no other check can count them: `control/clients.jsonl` (client
records, correlation ids `RUN-ctl-sN-tK`) and `control/journal.jsonl` (the control fake's journal); the record's
models and paths are in `harness.record` (`RunRecord.control_clients`, `RunRecord.control_journal`).
"""

from __future__ import annotations

from pathlib import Path

from gatedrill.fakes.config import FakeConfig

from .fake_fleet import upstream_configs
from .record import CONTROL, CONTROL_CLIENTS, CONTROL_DIR, CONTROL_JOURNAL
from .scenario import Scenario

__all__ = ["CONTROL", "CONTROL_CLIENTS", "CONTROL_DIR", "CONTROL_JOURNAL", "baseline_upstream", "control_fake"]


def baseline_upstream(scenario: Scenario) -> tuple[str, str]:
    """(upstream, model) of the most weighted target, the first declared on a tie."""
    targets = scenario.gateway.routing.targets
    best = max(range(len(targets)), key=lambda i: (targets[i].weight, -i))
    return targets[best].upstream, targets[best].model


def control_fake(scenario: Scenario, out: Path) -> FakeConfig | None:
    """The control fake's config, or None when the run has no control arm (closed-model load, or
    `control_share: 0`). It is seeded as the baseline upstream's own fake, so both draw the same latencies."""
    if scenario.load.mode != "open" or scenario.load.control_share <= 0:
        return None
    upstream, model = baseline_upstream(scenario)
    cfg = upstream_configs(scenario)[upstream]
    spec = cfg.model(model)
    window = {"context_window": spec.context_window, "max_output_tokens": spec.max_output_tokens} if spec else {}
    data = cfg.model_dump(mode="json", include={"reply", "latency", "tokenizer"})
    return FakeConfig.model_validate({**data, "name": CONTROL, "provider": "openai", "seed": cfg.seed,
                                      "models": [{"id": scenario.load.mix.model, **window}],
                                      "journal": {"path": str((out / CONTROL_JOURNAL).resolve())}})
