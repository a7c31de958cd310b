"""The machine's condition as a run record holds it (host.jsonl): one sample per interval of the host sampler, and,
in a distributed load, one per second from each load worker about its own process (`worker` set).

The sampler (`harness.host.HostSampler`) writes these lines; `harness.host.condition` reads them through
`RunRecord.host` to find the windows the host or the load generator could not serve.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

HOST_FILE = "host.jsonl"


class HostSample(BaseModel):
    model_config = ConfigDict(extra="ignore")

    mono: float = Field(description="monotonic time of the sample (s)")
    wall: float = Field(description="epoch time of the sample (s)")
    dt: float = Field(default=0.0, description="seconds since the previous sample")
    cores: int = Field(default=1, description="CPUs of the machine")
    busy: float = Field(description="cores busy since the previous sample (steal included)")
    steal: float = Field(default=0.0, description="cores stolen by the hypervisor")
    running: int = Field(default=0, description="tasks runnable (the sampler itself left out)")
    load1: float = Field(default=0.0, description="the 1-minute load average")
    procs: dict[str, float] = Field(default_factory=dict, description="cores used per label of the processes "
                                    "gatedrill started: runner, fakes, gateway, generator, other_child")
    worker: int | None = Field(default=None, description="a distributed load's worker that sent this sample of its "
                               "own process (None: the runner's sample of its host)")
    worker_host: str | None = Field(default=None, description="the host the worker ran on")
    loop_lag_ms: float | None = Field(default=None, description="the worker's worst event-loop lag in the interval")
