"""A gateway the user set up by hand, reached at its URL: nothing to start and nothing known about what it can
express, so no limitation is claimed (its configuration is the user's to match to the intent)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .base import Limitation, RunningGateway

if TYPE_CHECKING:
    from ..intent import UpstreamEndpoint
    from ..processes import Processes
    from ..scenario import Scenario


class UrlAdapter:
    name = "url"

    def limitations(self, scenario: Scenario) -> list[Limitation]:
        return []

    def start(self, procs: Processes, scenario: Scenario, endpoints: list[UpstreamEndpoint],
              workdir: Path) -> RunningGateway:
        assert scenario.gateway.url is not None  # GatewaySpec requires it for kind: url
        return RunningGateway(url=scenario.gateway.url.rstrip("/"))
