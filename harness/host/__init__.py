"""The machine's condition during a run: a sampler (`host.jsonl` in the run record, `HostSample`) and the windows
the host or the load generator could not serve. The rule that keeps timing checks from failing on them is
`harness.checks.machine_condition`."""

from .condition import Span, Window, run_condition, spans_reason, strained_seconds, strained_spans, unstrained, windows
from .sampler import HOST_FILE, HostSampler, cpu_ticks, loadavg, worker_sample

__all__ = ["HOST_FILE", "HostSampler", "Span", "Window", "cpu_ticks", "loadavg", "run_condition", "spans_reason",
           "strained_seconds", "strained_spans", "unstrained", "windows", "worker_sample"]
