"""The embedded reference gateway: executes the routing intent directly, so it can express all of it.

`start_reference` is the one way to start it: the adapter (for drills) and the standing gateway (the pytest
plugin's `gateway_url`) both call it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..processes import InfrastructureError, read_lines
from ..seeds import derive
from .base import Limitation, RunningGateway, start_error
from .weights import ControlApiWeights

if TYPE_CHECKING:
    from ..intent import RoutingIntent, UpstreamEndpoint
    from ..processes import Processes
    from ..scenario import Scenario

START_TIMEOUT_S = 30.0
LOG = "gateway.log"


class ReferenceAdapter:
    name = "reference"

    def limitations(self, scenario: Scenario) -> list[Limitation]:
        return []

    def start(self, procs: Processes, scenario: Scenario, endpoints: list[UpstreamEndpoint],
              workdir: Path) -> RunningGateway:
        gw = scenario.gateway
        return start_reference(procs, gw.routing, gw.mutant, scenario.seed, endpoints, workdir)


def start_reference(procs: Processes, routing: RoutingIntent, mutant: str | None, seed: int,
                    endpoints: list[UpstreamEndpoint], workdir: Path) -> RunningGateway:
    """The reference gateway as a child process routing to `endpoints` (its config and log in `workdir`); its
    router draws from the drill seed's own `router` stream."""
    config = {"intent": routing.model_dump(mode="json"), "mutant": mutant, "seed": derive(seed, "router"),
              "upstreams": [e.model_dump(mode="json") for e in endpoints]}
    path = workdir / "gateway.json"
    path.write_text(json.dumps(config, indent=2))
    proc = procs.start([sys.executable, "-m", "gatedrill.harness.reference", str(path)], LOG, stdout=subprocess.PIPE)
    try:
        (line,) = read_lines(proc, 1, START_TIMEOUT_S, "the reference gateway")
    except InfrastructureError as exc:
        raise start_error(exc, proc, workdir / LOG) from None
    url = line.strip().split("\t")[-1]
    return RunningGateway(url=url, control=url + "/_gatedrill", proc=proc, log=LOG,
                          weights=ControlApiWeights(url + "/_gatedrill"))

