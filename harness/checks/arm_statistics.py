"""Statistics that judge the gateway arm against the same-run control arm (`harness.control_arm`).

- The difference of a quantile between two independent samples, with a percentile-bootstrap CI that resamples
  both arms (Efron and Tibshirani, *An Introduction to the Bootstrap*, 1993, ch. 13; scipy.stats.bootstrap with two
  samples). The gateway's overhead at p99 is then "gateway arm p99 minus control arm p99": host noise that slows
  both arms cancels, which an absolute budget cannot do.
- A one-sided Mann-Whitney U test (gateway arm slower) with the rank-biserial correlation as its effect size, as
  Kayenta's canary judge does (Netflix/Google, "Automated canary analysis at Netflix with Kayenta", 2018; Kerby,
  "The simple difference formula", 2014, for the rank-biserial r = 2U/(n1 n2) - 1).
"""

from __future__ import annotations

from typing import Any


def quantile_difference_ci(a: list[float], b: list[float], q: float, confidence: float, n_resamples: int,
                           seed: int) -> tuple[float, float, float]:
    """(estimate, CI low, CI high) of percentile q of `a` minus percentile q of `b`, both arms resampled."""
    import numpy as np
    from scipy import stats

    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    est = float(np.percentile(x, q) - np.percentile(y, q))
    if np.ptp(x) == 0 and np.ptp(y) == 0:
        return est, est, est

    def diff(s1: Any, s2: Any, axis: int) -> Any:
        return np.percentile(s1, q, axis=axis) - np.percentile(s2, q, axis=axis)

    res = stats.bootstrap((x, y), diff, n_resamples=n_resamples, confidence_level=confidence, method="percentile",
                          vectorized=True, paired=False, random_state=np.random.default_rng(seed),
                          batch=max(1, 2_000_000 // max(1, len(x) + len(y))))
    ci = res.confidence_interval
    return est, float(ci.low), float(ci.high)


def rank_test(treated: list[float], control: list[float]) -> dict[str, Any]:
    """One-sided Mann-Whitney U (treated larger) and its rank-biserial effect size (> 0: treated tends larger)."""
    import numpy as np
    from scipy import stats

    res = stats.mannwhitneyu(treated, control, alternative="greater")
    return {"n_gateway": len(treated), "n_control": len(control), "u": float(res.statistic),
            "p_value": float(res.pvalue), "rank_biserial": 2 * float(res.statistic) / (len(treated) * len(control)) - 1,
            "median_gateway_ms": float(np.median(treated)), "median_control_ms": float(np.median(control))}
