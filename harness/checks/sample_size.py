"""How many observations a quantile budget needs before its confidence interval can decide.

A distribution-free CI for the q-th quantile is bounded by order statistics; its upper end exists only when
P(all n samples fall below the quantile) = q^n is at most (1 - confidence) / 2, so n >= ln((1 - c) / 2) / ln(q)
(Conover, *Practical Nonparametric Statistics*, 3rd ed., 1999, §3.2; Hahn and Meeker, *Statistical Intervals*,
1991, ch. 5). Below that, a bootstrap interval for the quantile is only the largest few samples, and it
under-covers: p99 at 95% needs 368 samples, p90 needs 36, p50 needs 6.
"""

from __future__ import annotations

import math


def quantile_sample_size(percentile: float, confidence: float) -> int:
    """Smallest n whose order statistics bound the `percentile`-th percentile (0-100) at `confidence`."""
    q = percentile / 100.0
    if not 0 < q < 1:
        raise ValueError(f"percentile must be in (0, 100), not {percentile}")
    return math.ceil(math.log((1 - confidence) / 2) / math.log(q))
