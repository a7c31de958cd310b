"""The names a run record uses for the phases of a run, defined once: the warm-up request and the run's outcome."""

from __future__ import annotations

from typing import Final, Literal

# The correlation id of the runner's one warm-up request before the load starts; checks and reports leave it out.
WARM_UP = "warm-up"

# meta.json `outcome`: "running" until the runner ends (so a killed runner leaves "running"), then one of the rest.
Outcome = Literal["running", "completed", "failed", "interrupted"]
RUNNING: Final = "running"
COMPLETED: Final = "completed"
FAILED: Final = "failed"
INTERRUPTED: Final = "interrupted"


def is_load(correlation_id: str | None) -> bool:
    """Is this a request of the drill's load (not the warm-up, and correlated at all)?"""
    return bool(correlation_id) and correlation_id != WARM_UP
