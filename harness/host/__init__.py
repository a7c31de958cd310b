"""The machine's condition during a run: a sampler (`host.jsonl` in the run record) and the rule that keeps timing
checks from failing on windows the host or the load generator could not serve."""

from .condition import (
    TIMING_CHECKS,
    Span,
    Window,
    apply_host_condition,
    read_host_samples,
    run_condition,
    strained_spans,
    windows,
)
from .sampler import HOST_FILE, HostSampler, cpu_ticks, loadavg

__all__ = ["HOST_FILE", "TIMING_CHECKS", "HostSampler", "Span", "Window", "apply_host_condition", "cpu_ticks",
           "loadavg", "read_host_samples", "run_condition", "strained_spans", "windows"]
