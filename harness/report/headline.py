"""The few figures that sum up a verdict, formatted short, for tables (terminal and HTML) and JUnit bodies."""

from __future__ import annotations

import math
from typing import Any

from ..checks import Verdict

# Per check, the figures worth a glance first; any other check shows its first scalar figures.
KEY_FIGURES: dict[str, tuple[str, ...]] = {
    "canary_split": ("p_value", "requests_counted", "sessions_hopping"),
    "cutover": ("gap_errors", "gap_requests", "streams_in_flight", "streams_corrupted", "sessions_broken"),
    "rollback": ("detection_s", "client_error_rate", "client_errors", "probes", "recovery_s"),
    "retry_amplification": ("attempts_per_request", "max_attempts_seen", "retries_early", "storm_requests"),
    "error_mapping": ("violations", "served_despite_failure"),
    "accounting": ("client_requests", "upstream_attempts", "unanswered", "lost", "duplicate"),
    "overhead": ("total_p50_ms", "total_p99_ms", "ttft_p99_ms"),
    "context_continuity": ("later_turns", "mismatched", "sessions_broken", "upstream_switches"),
    "context_window": ("over_window_requests", "reached_a_model_too_small", "landed_wrong", "truncated"),
    "streaming_integrity": ("streams", "failures", "upstream_error_not_surfaced", "missing_finish_reason",
                            "altered_text"),
}
MAX_FIGURES = 5


def short(value: Any) -> str:
    """A figure as a short string: floats to 4 significant digits, estimates with their CI."""
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        return f"{value:.4g}"
    if isinstance(value, dict) and "estimate" in value:
        ci = value.get("ci") or []
        est = short(value["estimate"])
        return f"{est} [{short(ci[0])}, {short(ci[1])}]" if len(ci) == 2 else est
    if isinstance(value, list | tuple) and len(value) <= 3 and all(isinstance(v, int | float) for v in value):
        return "[" + ", ".join(short(v) for v in value) + "]"
    return str(value)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool) or (
        isinstance(value, dict) and "estimate" in value)


def key_figures(v: Verdict) -> list[tuple[str, str]]:
    """(name, value) pairs: the check's key figures if present, else its first scalar figures."""
    names = [n for n in KEY_FIGURES.get(v.check, ()) if n in v.figures and _is_scalar(v.figures[n])]
    if not names:
        names = [n for n, val in v.figures.items() if _is_scalar(val)]
    return [(n, short(v.figures[n])) for n in names[:MAX_FIGURES]]


def figures_line(v: Verdict) -> str:
    """`name=value` pairs plus `n=sample size`, one line."""
    parts = [f"{n}={val}" for n, val in key_figures(v)]
    return " ".join([*parts, f"n={v.sample_size}"])


def step_lines(v: Verdict) -> list[str]:
    """A check's per-step lines (canary_split on a run whose weights changed), for every report to list under it."""
    steps = v.figures.get("steps")
    return [str(s) for s in steps] if isinstance(steps, list) else []


def thresholds_line(v: Verdict) -> str:
    return " ".join(f"{k}={short(val)}" for k, val in v.thresholds.items() if val is not None)
