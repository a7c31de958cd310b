"""Judge a candidate gateway build against a baseline on the same drill: per-metric tests with effect sizes, and
per-check verdict changes. A regression is a metric significantly and materially worse, or a check that newly
fails.

Tests (one-sided: the candidate worse), each at the family alpha split over the tests made (Bonferroni):
- overhead per series: Mann-Whitney U with the rank-biserial effect size, Kayenta's canary judge (a regression
  needs p < alpha, r > `max_effect` and a median shift above `min_shift_ms`); per quantile (p50/p90/p99) the
  difference with a bootstrap CI over both runs, a regression when its lower bound is above `min_shift_ms` and
  half the baseline quantile. When both runs have a control arm, each run's overhead is first taken relative to
  its own control arm's median, so a busier machine during one run is not read as a slower gateway. And the
  machine-condition rule of the checks (`checks.machine_condition`) holds here too: when either run had a strained
  span (the host or the generator saturated), an overhead regression gets a second look on the requests sent
  outside every strained span of both runs; if it does not regress there (or too few requests are left), the
  metric is Inconclusive with the spans as its reason, never a regression for the machine's sake;
- error rate: Fisher's exact test on (errors, successes) of the two runs (Fisher 1922; Agresti, *Categorical Data
  Analysis*, 3rd ed., §3.5), a regression when p < alpha and the rate rose by more than `min_error_rate_rise`;
- split share: chi-square test of homogeneity of the served counts per upstream (Pearson), a regression when
  p < alpha and a share moved by more than `min_share_shift`;
- attempts per request: Mann-Whitney U, as overhead, with a mean rise above `min_attempts_rise`;
- detection and recovery times (rollback): one observation per run, no test: a regression when the candidate is
  slower by more than `min_time_rise_s` and half the baseline's time, or never detected when the baseline was.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from gatedrill.fakes.errors import ConfigError

from ..checks import Status
from ..checks.arm_statistics import quantile_difference_ci, rank_test
from ..record import RunRecord
from .metrics import RunMetrics, run_metrics


@dataclass
class CompareParams:
    alpha: float = 0.01  # family-wise, over every test made
    max_effect: float = 0.2  # rank-biserial
    min_shift_ms: float = 5.0
    min_error_rate_rise: float = 0.005
    min_share_shift: float = 0.05
    min_attempts_rise: float = 0.05
    min_time_rise_s: float = 1.0
    confidence: float = 0.95
    n_resamples: int = 2000
    seed: int = 0


@dataclass
class MetricResult:
    metric: str
    regression: bool
    summary: str
    figures: dict[str, Any] = field(default_factory=dict)
    tested: bool = True  # False: compared without a statistical test (single observations, or no data)
    inconclusive: str | None = None  # why the machine, not the gateway, may explain a finding (then no regression)


@dataclass
class VerdictChange:
    check: str
    baseline: str
    candidate: str
    summary: str

    @property
    def kind(self) -> str:
        if self.candidate == "fail" and self.baseline != "fail":
            return "new FAIL"
        if self.baseline == "fail" and self.candidate != "fail":
            return "fixed FAIL"
        return "changed"


@dataclass
class Comparison:
    baseline: RunMetrics
    candidate: RunMetrics
    metrics: list[MetricResult]
    changes: list[VerdictChange]
    alpha_per_test: float

    @property
    def regressions(self) -> list[str]:
        out = [m.metric for m in self.metrics if m.regression]
        return out + [f"{c.check} (new FAIL)" for c in self.changes if c.kind == "new FAIL"]

    @property
    def regressed(self) -> bool:
        return bool(self.regressions)

    @property
    def inconclusive(self) -> list[str]:
        return [m.metric for m in self.metrics if m.inconclusive]


def _relative(m: RunMetrics, series: str, other: RunMetrics) -> tuple[list[float], str]:
    """A run's overhead relative to its own control arm's median, when both runs have one."""
    mine, theirs = m.control_median.get(series), other.control_median.get(series)
    if mine is None or theirs is None:
        return m.overhead[series], "absolute"
    return [x - mine for x in m.overhead[series]], "relative to each run's control arm"


def _overhead(base: RunMetrics, cand: RunMetrics, series: str, alpha: float, p: CompareParams) -> MetricResult:
    """The overhead test, and the machine-condition rule's second look when it regresses in a strained run."""
    first = _overhead_test(base, cand, series, alpha, p)
    if not first.regression or (base.calm is None and cand.calm is None):
        return first
    reasons = "; ".join(f"{role}: {m.calm.reason}" for role, m in (("baseline", base), ("candidate", cand)) if m.calm)
    b, c = (m if m.calm is None else replace(m, overhead=m.calm.overhead, control_median=m.calm.control_median)
            for m in (base, cand))
    if len(b.overhead[series]) >= 20 and len(c.overhead[series]) >= 20:
        again = _overhead_test(b, c, series, alpha, p)
        if again.regression:
            first.summary += f"; regresses even on the requests outside the strained spans ({again.summary})"
            first.figures["outside_strained"] = again.figures
            return first
    first.figures["finding_on_strained_host"] = first.summary
    return MetricResult(first.metric, False, f"{reasons} (the run's timing is the machine's, not only the "
                        f"gateway's; the comparison found: {first.summary})", first.figures, inconclusive=reasons)


def _overhead_test(base: RunMetrics, cand: RunMetrics, series: str, alpha: float, p: CompareParams) -> MetricResult:
    import numpy as np

    b, how = _relative(base, series, cand)
    c, _ = _relative(cand, series, base)
    test = rank_test(c, b)
    shift = test["median_gateway_ms"] - test["median_control_ms"]
    figures: dict[str, Any] = {"basis": how, "mann_whitney": test, "median_shift_ms": shift, "quantiles": {}}
    worse = []
    for q in (50, 90, 99):
        est, low, high = quantile_difference_ci(c, b, q, p.confidence, p.n_resamples, p.seed)
        base_q = float(np.percentile(b, q))
        bar = max(p.min_shift_ms, 0.5 * abs(base_q))
        figures["quantiles"][f"p{q}"] = {"difference_ms": est, "ci_ms": [low, high], "tolerance_ms": bar}
        if low > bar:
            worse.append(f"p{q} +{est:.1f} ms (CI {low:.1f}-{high:.1f})")
    shifted = test["p_value"] < alpha and test["rank_biserial"] > p.max_effect and shift > p.min_shift_ms
    regression = shifted or bool(worse)
    text = (f"median {shift:+.1f} ms, rank-biserial {test['rank_biserial']:.2f}, p={test['p_value']:.2g}"
            + ("; " + ", ".join(worse) if worse else "") + f" ({how})")
    return MetricResult(f"overhead {series}", regression, text, figures)


def _errors(base: RunMetrics, cand: RunMetrics, alpha: float, p: CompareParams) -> MetricResult:
    from scipy import stats

    table = [[cand.errors, cand.requests - cand.errors], [base.errors, base.requests - base.errors]]
    res = stats.fisher_exact(table, alternative="greater")
    rb = base.errors / base.requests if base.requests else 0.0
    rc = cand.errors / cand.requests if cand.requests else 0.0
    regression = float(res.pvalue) < alpha and rc - rb > p.min_error_rate_rise
    return MetricResult("error rate", regression, f"{rb:.2%} -> {rc:.2%} (Fisher p={float(res.pvalue):.2g})",
                        {"baseline": [base.errors, base.requests], "candidate": [cand.errors, cand.requests],
                         "p_value": float(res.pvalue), "rate_difference": rc - rb})


def _split(base: RunMetrics, cand: RunMetrics, alpha: float, p: CompareParams) -> MetricResult:
    from scipy import stats

    names = sorted(set(base.served) | set(cand.served))
    nb, nc = sum(base.served.values()), sum(cand.served.values())
    shares = {u: [base.served.get(u, 0) / nb if nb else 0.0, cand.served.get(u, 0) / nc if nc else 0.0]
              for u in names}
    shift = max((abs(b - c) for b, c in shares.values()), default=0.0)
    text = ", ".join(f"{u} {b:.1%} -> {c:.1%}" for u, (b, c) in shares.items())
    if len(names) < 2 or not nb or not nc:
        return MetricResult("split share", False, text or "no traffic", {"shares": shares}, tested=False)
    res = stats.chi2_contingency([[base.served.get(u, 0) for u in names], [cand.served.get(u, 0) for u in names]])
    pv = float(res.pvalue)
    return MetricResult("split share", pv < alpha and shift > p.min_share_shift,
                        f"{text} (chi-square p={pv:.2g})", {"shares": shares, "p_value": pv, "max_shift": shift})


def _attempts(base: RunMetrics, cand: RunMetrics, alpha: float, p: CompareParams) -> MetricResult:
    mb = sum(base.attempts) / len(base.attempts) if base.attempts else 0.0
    mc = sum(cand.attempts) / len(cand.attempts) if cand.attempts else 0.0
    if len(set(base.attempts) | set(cand.attempts)) <= 1:  # every request made the same number of attempts
        return MetricResult("attempts per request", False, f"{mb:.2f} -> {mc:.2f} (identical)",
                            {"mean": [mb, mc]}, tested=False)
    test = rank_test([float(x) for x in cand.attempts], [float(x) for x in base.attempts])
    regression = test["p_value"] < alpha and test["rank_biserial"] > p.max_effect and mc - mb > p.min_attempts_rise
    return MetricResult("attempts per request", regression,
                        f"{mb:.2f} -> {mc:.2f}, rank-biserial {test['rank_biserial']:.2f}, p={test['p_value']:.2g}",
                        {"mean": [mb, mc], "mann_whitney": test})


def _times(base: RunMetrics, cand: RunMetrics, p: CompareParams) -> list[MetricResult]:
    out = []
    for key, label in (("detection_s", "detection time"), ("recovery_s", "recovery time")):
        if key not in base.rollback and key not in cand.rollback:
            continue
        b, c = base.rollback.get(key), cand.rollback.get(key)
        if b is None and c is None:
            continue
        regression = (c is None and b is not None) or (
            b is not None and c is not None and c - b > max(p.min_time_rise_s, 0.5 * b))
        out.append(MetricResult(label, regression, f"{_s(b)} -> {_s(c)} (one observation per run; no test)",
                                {"baseline_s": b, "candidate_s": c}, tested=False))
    return out


def _s(x: float | None) -> str:
    return "never" if x is None else f"{x:g} s"


def _changes(base: RunMetrics, cand: RunMetrics) -> list[VerdictChange]:
    out = []
    for name in sorted(set(base.verdicts) | set(cand.verdicts)):
        vb, vc = base.verdicts.get(name), cand.verdicts.get(name)
        sb = "absent" if vb is None else ("xfail" if vb.xfail else vb.status.value)
        sc = "absent" if vc is None else ("xfail" if vc.xfail else vc.status.value)
        if sb != sc:
            out.append(VerdictChange(name, sb, sc, vc.summary if vc is not None and vc.status is not Status.PASS
                                     else ""))
    return out


def compare(baseline: RunMetrics, candidate: RunMetrics, params: CompareParams | None = None) -> Comparison:
    p = params or CompareParams()
    if baseline.drill != candidate.drill:
        raise ConfigError(f"compare runs of one drill: the baseline ran {baseline.drill!r}, the candidate "
                          f"{candidate.drill!r}")
    series = [s for s in ("total", "ttft") if len(baseline.overhead[s]) >= 20 and len(candidate.overhead[s]) >= 20]
    tests = len(series) + 3
    alpha = p.alpha / tests
    metrics = [_overhead(baseline, candidate, s, alpha, p) for s in series]
    metrics += [_errors(baseline, candidate, alpha, p), _split(baseline, candidate, alpha, p),
                _attempts(baseline, candidate, alpha, p), *_times(baseline, candidate, p)]
    return Comparison(baseline, candidate, metrics, _changes(baseline, candidate), alpha)


def compare_runs(baseline: str, candidate: str, params: CompareParams | None = None,
                 overrides: dict[str, dict[str, Any]] | None = None) -> Comparison:
    """Load both run records and compare them (checks judged with the same overrides)."""
    return compare(run_metrics(RunRecord.load(baseline), overrides), run_metrics(RunRecord.load(candidate), overrides),
                   params)
