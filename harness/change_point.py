"""Where a categorical sequence (the upstream that served each request, in arrival order) changes its split.

One change point, found by maximum likelihood: the sequence is multinomial with one share vector before index k and
another from k on, and k maximises the log-likelihood ratio against one share vector throughout (Hinkley 1970,
"Inference about the change-point in a sequence of random variables", Biometrika 57; for the binomial and other
exponential families, Worsley 1986, Biometrika 73). The significance of the maximised statistic 2*log(LR) is bounded
with Bonferroni over the candidate positions: p <= m * P(chi2_{c-1} > stat), c categories, m candidates. The bound is
conservative, so a constant split gives no change at the chosen alpha.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

ALPHA = 1e-3
MIN_SEGMENT = 5  # requests on each side: shorter segments make the chi-square approximation meaningless


@dataclass(frozen=True)
class ChangePoint:
    index: int  # the first element of the new regime
    statistic: float  # 2 * log likelihood ratio at `index`
    p_value: float  # the Bonferroni bound over the candidates searched
    before: dict[str, float]  # shares before `index`
    after: dict[str, float]  # shares from `index` on


def split_change(labels: Sequence[str], earliest: int = 0, alpha: float = ALPHA,
                 min_segment: int = MIN_SEGMENT) -> tuple[ChangePoint | None, float]:
    """The most likely change point of `labels` at or after index `earliest` (a change cannot precede its
    cause), and its p-value bound; (None, p) when there is no significant change (p >= alpha) or too little
    data (p = 1)."""
    import numpy as np
    from scipy import stats

    n = len(labels)
    cats = sorted(set(labels))
    lo = max(earliest, min_segment)
    hi = n - min_segment  # candidates k: lo <= k <= hi
    if len(cats) < 2 or lo > hi:
        return None, 1.0
    codes = np.searchsorted(np.array(cats), np.array(labels))
    onehot = np.zeros((n, len(cats)))
    onehot[np.arange(n), codes] = 1.0
    cum = np.vstack([np.zeros(len(cats)), np.cumsum(onehot, axis=0)])  # cum[k] = counts of labels[:k]
    total = cum[n]

    def loglik(counts: np.ndarray, size: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(counts > 0, counts * np.log(counts / size[..., None]), 0.0)
        result: np.ndarray = terms.sum(axis=-1)
        return result

    ks = np.arange(lo, hi + 1)
    left, right = cum[ks], total - cum[ks]
    ll = loglik(left, ks.astype(float)) + loglik(right, (n - ks).astype(float))
    stat_all = 2.0 * (ll - loglik(total[None, :], np.array([float(n)]))[0])
    best = int(np.argmax(stat_all))
    stat = float(stat_all[best])
    p = min(1.0, len(ks) * float(stats.chi2.sf(stat, len(cats) - 1)))
    if p >= alpha:
        return None, p
    k = int(ks[best])
    before = {c: float(left[best][i] / k) for i, c in enumerate(cats)}
    after = {c: float(right[best][i] / (n - k)) for i, c in enumerate(cats)}
    return ChangePoint(k, stat, p, before, after), p
