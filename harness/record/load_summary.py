"""The load generator's summary as a run record holds it (load.json): achieved rate, counts, saturation warnings.

The fields gatedrill reads are typed; the worker's other figures (its tally, Locust's own numbers) are kept as
they came (`extra`), since they are shown, not judged.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ControlSummary(BaseModel):
    """The same-run control arm's part of the load (`harness.control_arm`)."""

    model_config = ConfigDict(extra="allow")

    share: float = Field(description="the seeded share of arrivals also sent straight to the control fake")
    url: str | None = None
    records: int = Field(default=0, description="control client records written")
    records_path: str | None = None
    skipped_pool_full: int = Field(default=0, description="control twins left out: every in-flight slot was busy")


class WorkerSummary(BaseModel):
    """One worker of a distributed load (`harness.load.distribution`)."""

    model_config = ConfigDict(extra="allow")

    index: int = Field(description="its share: it sent arrival i when i mod load_workers == index")
    host: str | None = None
    pid: int | None = None
    state: str = Field(default="finished", description="finished, or died (stopped heartbeating, or left without "
                       "its summary)")
    scheduled_arrivals: int = 0
    started_arrivals: int = 0
    unsent_arrivals: int = Field(default=0, description="its arrivals never sent (all of a dead worker's not started)")
    records: int = Field(default=0, description="client records it produced")
    in_flight_at_death: int = Field(default=0, description="a dead worker's requests in flight when it was last "
                                    "heard from: their outcome is unknown")


class LoadSummary(BaseModel):
    model_config = ConfigDict(extra="allow")

    mode: str | None = Field(default=None, description="open (an arrival schedule) or closed (concurrency)")
    target_rate: float | None = Field(default=None, description="requests/s the schedule asked for")
    achieved_rate: float | None = Field(default=None, description="requests/s started")
    scheduled_arrivals: int | None = None
    started_arrivals: int | None = Field(default=None, description="requests started (each should leave a record)")
    records: int | None = Field(default=None, description="client records written")
    t0_wall: float | None = Field(default=None, description="the load's t=0 (epoch s)")
    t0_mono: float | None = None
    stop_reason: str | None = None
    failure: str | None = Field(default=None, description="the generator's own failure, if any")
    cancelled: bool = False
    generator_saturated: bool = Field(default=False, description="the generator, not the gateway, was the limit")
    warnings: list[str] = Field(default_factory=list)
    control: ControlSummary | None = Field(default=None, description="the control arm; None without one")
    tally: dict[str, Any] = Field(default_factory=dict, description="counts and latency histograms (JSON)")
    load_workers: int | None = Field(default=None, description="distributed load: how many Locust workers produced "
                                     "it (None: one process)")
    workers: list[WorkerSummary] = Field(default_factory=list, description="distributed load: one row per worker")
    unsent_worker_died: int = Field(default=0, description="arrivals of dead workers never sent (not lost requests)")
