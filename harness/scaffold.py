"""`gatedrill init`: the files a repository needs to drill its own gateway, each commented with what to fill in.

Writes `gatedrill.yaml` (project defaults), `scenarios/my-gateway-canary.yaml` (a canary drill, valid as written)
and `scenarios/scenario.schema.json` (the JSON Schema its modeline names, for editors). Existing files are never
overwritten unless `force` is set.
"""

from __future__ import annotations

import json
from pathlib import Path

from gatedrill.fakes.errors import ConfigError

SCENARIO_PATH = "scenarios/my-gateway-canary.yaml"
SCHEMA_PATH = "scenarios/scenario.schema.json"
STABLE_PORT, CANARY_PORT = 18081, 18082

PROJECT_YAML = """\
# gatedrill project defaults, written by `gatedrill init`. `gatedrill run` and `pytest scenarios/` read this file
# from the current directory; flags on the command line (--gateway, --out, --scale) win over it.

# FILL IN, then uncomment: the gateway under test, as url: and its base URL without /v1. While this line is
# commented out, every drill runs against gatedrill's embedded reference gateway (built-in drills too), and
# `--gateway url:...` on the command line picks a gateway for one run.
# gateway: url:http://127.0.0.1:4000

# Where run records go: one folder per run (NAME-TIME), all JSON; `gatedrill check FOLDER` judges one again.
out: runs

# Multiplies every scenario's duration and timeline times: 0.3 for a quick look, 1 for the real drill.
scale: 1.0
"""

SCENARIO_YAML = f"""\
# yaml-language-server: $schema=scenario.schema.json
# A canary drill for your gateway, written by `gatedrill init`. Fill in the parts marked FILL IN, then:
#   gatedrill scenarios validate {SCENARIO_PATH}
#   gatedrill run {SCENARIO_PATH}                 (the gateway from gatedrill.yaml, or --gateway url:...)
#   pytest scenarios/                                                (one test per check below)
# Try it first against the embedded reference gateway: add `--gateway reference`.
name: my-gateway-canary
description: >
  A 90/10 canary between two OpenAI-compatible upstreams. Does the gateway split traffic as configured, answer
  every request exactly once, and add little latency?
seed: 1
duration_s: 30                 # seconds of load (times gatedrill.yaml's scale or --scale)

# The fake upstreams gatedrill starts for the drill, on fixed ports so your gateway can reach them.
# FILL IN your gateway's configuration to match (any API key works):
#   the model your clients send (gpt-4o-mini) goes 90% to http://127.0.0.1:{STABLE_PORT}/v1 (upstream `stable`)
#   and 10% to http://127.0.0.1:{CANARY_PORT}/v1 (upstream `canary`), both the OpenAI API serving gpt-4o-mini.
# If these ports are taken, change them here and in your gateway.
upstreams:
  stable:
    provider: openai           # or anthropic: the fake speaks that provider's wire format
    port: {STABLE_PORT}
    models: [{{id: gpt-4o-mini}}]
    latency: {{ttft_ms: {{dist: lognormal, median: 40, sigma: 0.3}}, itl_ms: 4}}
  canary:
    provider: openai
    port: {CANARY_PORT}
    models: [{{id: gpt-4o-mini}}]
    latency: {{ttft_ms: {{dist: lognormal, median: 40, sigma: 0.3}}, itl_ms: 4}}

gateway:
  kind: reference              # what runs when no gateway is given; gatedrill.yaml or --gateway url:... wins
  routing:                     # FILL IN what your gateway is configured to do: the checks judge it against this
    public_model: gpt-4o-mini  # the model name clients send to the gateway
    targets:
      - {{upstream: stable, model: gpt-4o-mini, weight: 90}}
      - {{upstream: canary, model: gpt-4o-mini, weight: 10}}

load:
  arrivals: {{profile: poisson, rate: 20}}   # requests per second, Poisson arrivals (open model)
  mix: {{model: gpt-4o-mini, stream_share: 0.3}}   # model: the same as public_model above; 30% streamed

checks:                        # each is one pytest test; docs/checks.md lists them all
  canary_split: {{min_detectable: 0.1}}              # shares match the weights (exact binomial test)
  accounting: {{}}                                   # every request answered once; no lost or extra upstream calls
  overhead: {{p99_budget_ms: 250, compare: false}}   # what the gateway adds to each request, p99, against a budget
"""


def scaffold_files() -> dict[str, str]:
    """Relative path -> content of every file `gatedrill init` writes."""
    from .schema_export import scenario_json_schema

    schema = json.dumps(scenario_json_schema(), indent=2, sort_keys=True) + "\n"
    return {"gatedrill.yaml": PROJECT_YAML, SCENARIO_PATH: SCENARIO_YAML, SCHEMA_PATH: schema}


def init_project(directory: str | Path = ".", force: bool = False) -> list[Path]:
    """Write the scaffold into `directory`; refuse (ConfigError, nothing written) if a file exists and not `force`."""
    root = Path(directory)
    files = {root / rel: text for rel, text in scaffold_files().items()}
    existing = [str(p) for p in files if p.exists()]
    if existing and not force:
        what = f"{existing[0]} already exists" if len(existing) == 1 else f"{', '.join(existing)} already exist"
        raise ConfigError(f"{what}; nothing written (--force overwrites)")
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return list(files)
