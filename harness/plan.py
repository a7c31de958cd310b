"""Sizing a run by statistical power, before it starts: what each statistical check needs, what the drill will
produce at a scale, and the smallest scale that makes it conclusive.

Each statistical check's need comes from its own parameters, by the rule the check itself applies:
- `canary_split`: per weight period, the requests to detect a share off by `min_detectable` with `power` at the
  period's share of `alpha` (normal approximation to the binomial test; `check_canary_split.required_n`);
- `overhead`: per budgeted quantile, the samples whose order statistics bound it (`sample_size.py`: p99 at 95%
  needs 368), and `min_samples` in the control arm (fewer: judged against the absolute budget instead);
- `rollback`: `min_requests` client requests inside the watched upstream's fault windows; and, with a declared
  cooldown, 8 attempts to it per probe gap before its first fault, or its re-admission and early-opening rules go
  unjudged (a silence at lower rates can be chance);
- `streaming_integrity`: `min_streams` client streams;
- `error_mapping`: `min_errors` failed upstream attempts (at most the requests sent into fault windows);
- `cutover`: `min_requests` client requests in the gaps around the weight flips.
What a run produces is the schedule's expected arrivals (`load.schedule.expected_arrivals`) times the request mix,
for the open model; a need is met when that expectation less two Poisson standard deviations reaches it. A
closed-model drill's count depends on the gateway's speed and is not predicted.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .check_params import CheckParams, with_overrides
from .load.schedule import expected_arrivals
from .scenario import Scenario

MAX_SCALE = 100.0


def met(expected: float, needed: int) -> bool:
    """Does a Poisson count with this mean reach `needed` with a margin of two standard deviations?"""
    return expected - 2 * math.sqrt(max(expected, 0.0)) >= needed


@dataclass
class Need:
    check: str
    what: str  # the observations counted
    needed: int
    produced: float | None  # expected at this scale; None when it cannot be known before the run
    basis: str  # the parameters the need comes from
    fallback: str = ""  # short of it, how the check is judged instead of Inconclusive ("will be <fallback>")
    smallest_scale: float | None = None

    @property
    def conclusive(self) -> bool | None:
        """Met with a margin: the expected count less two Poisson standard deviations (arrivals are random)."""
        return None if self.produced is None else met(self.produced, self.needed)

    def line(self) -> str:
        got = "unknown (closed-model load)" if self.produced is None else f"{self.produced:.0f}"
        scale = "" if self.smallest_scale is None else f"; smallest conclusive --scale {self.smallest_scale:g}"
        return f"{self.check}: {self.what}: {self.needed} needed, {got} expected ({self.basis}){scale}"


def _arrivals(s: Scenario, a: float = 0.0, b: float | None = None) -> float | None:
    load = s.load
    if load.mode != "open" or load.arrivals is None:
        return None
    return expected_arrivals(load.arrivals, s.duration_s, a, s.duration_s if b is None else b) * load.mix.turns


def _fault_windows(s: Scenario, upstream: str | None) -> list[tuple[float, float]]:
    """(start, end) s after load start of each timeline fault window on `upstream` (any upstream when None)."""
    out: list[tuple[float, float]] = []
    open_at: dict[str, float] = {}
    for act in sorted(s.timeline, key=lambda a: a.at_s):
        name = getattr(act, "upstream", None)
        if name is None or (upstream is not None and name != upstream):
            continue
        if act.action == "set_faults" and name not in open_at:
            open_at[name] = act.at_s
        elif act.action == "clear_faults" and name in open_at:
            out.append((open_at.pop(name), act.at_s))
    out += [(t, s.duration_s) for t in open_at.values()]
    return out


def _weight_periods(s: Scenario) -> list[tuple[float, float, dict[str, float]]]:
    """(start, end, normalised share per upstream) of each period the timeline's `set_weights` actions make."""
    from .checks.weight_periods import normalised, target_weights

    targets = s.gateway.routing.targets
    changes: list[tuple[float, dict[str, float]]] = []
    updates: dict[str, float] = {}
    for act in sorted(s.timeline, key=lambda a: a.at_s):
        if act.action == "set_weights":
            updates = {**updates, **act.weights}
            changes.append((act.at_s, dict(updates)))
    periods = [(0.0, changes[0][0] if changes else s.duration_s, normalised(target_weights(targets)))]
    for i, (at, upd) in enumerate(changes):
        periods.append((at, changes[i + 1][0] if i + 1 < len(changes) else s.duration_s,
                        normalised(target_weights(targets, upd))))
    return periods


def _canary_split(s: Scenario, p: Any) -> list[Need]:
    from .checks.check_canary_split import required_n

    judged = [x for x in _weight_periods(s) if len(x[2]) >= 2]
    alpha = p.alpha / max(1, len(judged))
    out = []
    for a, b, weights in judged:
        n = _arrivals(s, a + (p.guard_s if a > 0 else 0.0), b - (p.guard_s if b < s.duration_s else 0.0))
        shares = "/".join(f"{100 * w:.0f}" for w in weights.values())
        where = f" t+{a:g}-{b:g} s" if len(judged) > 1 else ""
        out.append(Need("canary_split", f"requests in weight period{where} ({shares})",
                        required_n(weights, p.min_detectable, alpha, p.power), n,
                        f"alpha {alpha:.2g}, min_detectable {p.min_detectable:g}, power {p.power:g}"))
    return out


def _overhead(s: Scenario, p: Any) -> list[Need]:
    from .checks.sample_size import quantile_sample_size

    total = _arrivals(s)
    stream = s.load.mix.stream_share
    out = []
    for series, share in (("total", 1.0), ("ttft", stream)):
        prefix = "ttft_" if series == "ttft" else ""
        for q in (50, 90, 99):
            if getattr(p, f"{prefix}p{q}_budget_ms") is None:
                continue
            need = max(p.min_samples, quantile_sample_size(q, p.confidence))
            out.append(Need("overhead", f"{series} overhead samples for the p{q} budget", need,
                            None if total is None else total * share,
                            f"order statistics bound p{q} at confidence {p.confidence:g}"))
        if p.against == "control" and any(getattr(p, f"{prefix}p{q}_budget_ms") is not None for q in (50, 90, 99)):
            ctl = s.load.control_share
            out.append(Need("overhead", f"{series} control-arm samples ({ctl:.0%} of arrivals)", p.min_samples,
                            None if total is None else total * share * ctl,
                            "min_samples; fewer: judged against the absolute budget",
                            fallback="judged against the absolute budget instead"))
    return out


def _rollback(s: Scenario, p: Any) -> list[Need]:
    from .checks.breaker_transitions import MIN_EXPECTED_IN_GAP
    from .checks.check_rollback import probe_gap

    windows = _fault_windows(s, p.upstream)
    n = None if _arrivals(s) is None else sum(_arrivals(s, a, b) or 0.0 for a, b in windows)
    needs = [Need("rollback", f"client requests in {p.upstream}'s fault windows", p.min_requests, n, "min_requests")]
    cooldown = s.gateway.routing.cooldown
    first = min((a for a, _ in windows), default=0.0)
    if not cooldown.enabled or first <= 0:
        return needs
    gap = probe_gap(cooldown, p)  # the check's rule: its attempts/s before the fault x gap >= MIN_EXPECTED_IN_GAP
    pre = None if n is None else sum((_arrivals(s, a, min(b, first)) or 0.0) * shares.get(p.upstream, 0.0)
                                     for a, b, shares in _weight_periods(s) if a < first)
    needs.append(Need("rollback", f"attempts to {p.upstream} before its fault ({MIN_EXPECTED_IN_GAP:g} per probe gap "
                      f"of {gap:g} s)", math.ceil(MIN_EXPECTED_IN_GAP * first / gap), pre,
                      "a silence must be the breaker", fallback="judged without its breaker's re-admission and "
                      "early-opening rules"))
    return needs


def _streaming(s: Scenario, p: Any) -> list[Need]:
    total = _arrivals(s)
    return [Need("streaming_integrity", "client streams", p.min_streams,
                 None if total is None else total * s.load.mix.stream_share, "min_streams")]


def _error_mapping(s: Scenario, p: Any) -> list[Need]:
    windows = _fault_windows(s, None)
    n = None if _arrivals(s) is None else sum(_arrivals(s, a, b) or 0.0 for a, b in windows)
    return [Need("error_mapping", "requests sent into fault windows (an upper bound on failed attempts)",
                 p.min_errors, n, "min_errors")]


def _cutover(s: Scenario, p: Any) -> list[Need]:
    flips = [act.at_s for act in s.timeline if act.action == "set_weights"]
    n = None if _arrivals(s) is None else sum(
        _arrivals(s, max(0.0, f - p.before_s), min(s.duration_s, f + p.after_s)) or 0.0 for f in flips)
    return [Need("cutover", "client requests around the weight flips", p.min_requests, n,
                 f"min_requests, gaps of {p.before_s:g} s before and {p.after_s:g} s after each flip")]


NEEDS: dict[str, Callable[[Scenario, Any], list[Need]]] = {
    "canary_split": _canary_split, "overhead": _overhead, "rollback": _rollback,
    "streaming_integrity": _streaming, "error_mapping": _error_mapping, "cutover": _cutover,
}


def _needs(s: Scenario, checks: dict[str, CheckParams]) -> list[Need]:
    return [n for name, params in checks.items() if name in NEEDS for n in NEEDS[name](s, params)]


def plan(scenario: Scenario, scale: float = 1.0,
         overrides: dict[str, dict[str, Any]] | None = None) -> list[Need]:
    """Every statistical check's needs for `scenario` (unscaled) run at `scale`, each with the smallest scale at
    which it is met (searched in steps of 0.05 on the scaled drill itself, up to 100)."""
    overrides = overrides or {}
    names = [*scenario.checks.names(), *(n for n in overrides if n not in scenario.checks)]
    checks = {name: with_overrides(name, scenario.checks.get(name), overrides.get(name, {})) for name in names}
    needs = _needs(scenario.scaled(scale) if scale != 1.0 else scenario, checks)
    for i, need in enumerate(needs):
        if need.produced is None:
            continue
        per_unit = _needs(scenario, checks)[i].produced or 0.0
        guess = need.needed / per_unit if per_unit > 0 else MAX_SCALE
        f = max(0.05, math.floor(guess * 20) / 20)
        while f <= MAX_SCALE:
            got = _needs(scenario.scaled(f), checks)[i].produced or 0.0
            if met(got, need.needed):
                need.smallest_scale = round(f, 2)
                break
            f += 0.05
    return needs


def shortfalls(needs: list[Need]) -> list[str]:
    """One line per need the run will not meet: the warning `gatedrill run` prints before the load starts."""
    out = []
    for n in needs:
        if n.conclusive is False:
            effect = f"{n.check} will be {n.fallback or 'Inconclusive'}"
            scale = f"; --scale {n.smallest_scale:g} or more would" if n.smallest_scale else ""
            low = (n.produced or 0.0) - 2 * math.sqrt(max(n.produced or 0.0, 0.0))
            out.append(f"{effect}: {n.what}: {n.needed} needed, about {n.produced:.0f} expected "
                       f"(at least {max(low, 0):.0f} allowing for chance){scale}")
    return out


def plan_table(name: str, scale: float, needs: list[Need]) -> list[str]:
    """The plan as lines for a terminal: one row per need, then what the run will be short of."""
    lines = [f"plan for {name} at --scale {scale:g}:"]
    if not needs:
        return [*lines, "  no check here is sized by a sample count"]
    lines.append(f"  {'check':<20} {'needed':>7} {'expected':>9} {'smallest scale':>15}  observations (basis)")
    for n in needs:
        got = "?" if n.produced is None else f"{n.produced:.0f}"
        smallest = "-" if n.smallest_scale is None else f"{n.smallest_scale:g}"
        mark = "" if n.conclusive is not False else ("  <- falls back" if n.fallback else "  <- SHORT")
        lines.append(f"  {n.check:<20} {n.needed:>7} {got:>9} {smallest:>15}  {n.what} ({n.basis}){mark}")
    short = shortfalls(needs)
    if short:
        lines += ["", *short]
    else:
        lines += ["", "every sized check can be conclusive at this scale"]
    return lines
