"""Seeded samplers for latency and output length: fixed, uniform, normal, lognormal, or given by percentiles.

A bare number in YAML means `fixed`. Values are in the unit of the field that holds them (ms for latency,
tokens for length); samples are never negative.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from statistics import NormalDist
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator


class _Dist(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    def quantile(self, u: float) -> float:  # pragma: no cover - abstract
        """Inverse CDF at u in [0, 1): sampling is quantile(uniform)."""
        raise NotImplementedError

    def sample(self, rng: random.Random) -> float:
        return self.quantile(rng.random())

    @property
    def is_zero(self) -> bool:
        return False


class Fixed(_Dist):
    dist: Literal["fixed"] = "fixed"
    value: float = Field(ge=0)

    def quantile(self, u: float) -> float:
        return self.value

    @property
    def is_zero(self) -> bool:
        return self.value == 0


class Uniform(_Dist):
    dist: Literal["uniform"]
    low: float = Field(ge=0)
    high: float = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.high < self.low:
            raise ValueError("uniform needs low <= high")
        return self

    def quantile(self, u: float) -> float:
        return self.low + (self.high - self.low) * u


class Normal(_Dist):
    """Normal, clipped at `min` (default 0) so a latency is never negative."""

    dist: Literal["normal"]
    mean: float
    sd: float = Field(ge=0)
    min: float = Field(default=0, ge=0)

    def quantile(self, u: float) -> float:
        if self.sd == 0:
            return max(self.min, self.mean)
        return max(self.min, NormalDist(self.mean, self.sd).inv_cdf(min(max(u, 1e-12), 1 - 1e-12)))


class LogNormal(_Dist):
    """Lognormal given by its median and the sigma of the underlying normal: heavy right tail, like real TTFT."""

    dist: Literal["lognormal"]
    median: float = Field(gt=0)
    sigma: float = Field(ge=0)

    def quantile(self, u: float) -> float:
        if self.sigma == 0:
            return self.median
        z = NormalDist().inv_cdf(min(max(u, 1e-12), 1 - 1e-12))
        return math.exp(math.log(self.median) + self.sigma * z)


class Percentiles(_Dist):
    """Piecewise-linear inverse CDF through given percentiles, e.g. {p50: 200, p90: 450, p99: 1200}.

    p0 defaults to 0 and p100 to the highest point given, so samples stay inside the stated range.
    """

    dist: Literal["percentiles"]
    points: dict[str, float]

    @field_validator("points")
    @classmethod
    def _valid(cls, v: dict[str, float]) -> dict[str, float]:
        if not v:
            raise ValueError("give at least one percentile, e.g. {p50: 200}")
        parsed = []
        for k, val in v.items():
            if not k.startswith("p"):
                raise ValueError(f"percentile keys look like p50 or p99.9, not {k!r}")
            try:
                q = float(k[1:])
            except ValueError:
                raise ValueError(f"percentile keys look like p50 or p99.9, not {k!r}") from None
            if not 0 <= q <= 100:
                raise ValueError(f"{k}: a percentile is between 0 and 100")
            if val < 0:
                raise ValueError(f"{k}: values must be >= 0")
            parsed.append((q, val))
        parsed.sort()
        for (_, a), (_, b) in itertools.pairwise(parsed):
            if b < a:
                raise ValueError("percentile values must not decrease as the percentile grows")
        return v

    def _curve(self) -> tuple[list[float], list[float]]:
        pts = sorted((float(k[1:]) / 100.0, val) for k, val in self.points.items())
        if pts[0][0] > 0:
            pts.insert(0, (0.0, min(0.0, pts[0][1])))
        if pts[-1][0] < 1:
            pts.append((1.0, pts[-1][1]))
        return [q for q, _ in pts], [v for _, v in pts]

    def quantile(self, u: float) -> float:
        qs, vs = self._curve()
        i = bisect.bisect_right(qs, u)
        if i <= 0:
            return vs[0]
        if i >= len(qs):
            return vs[-1]
        q0, q1, v0, v1 = qs[i - 1], qs[i], vs[i - 1], vs[i]
        return v0 if q1 == q0 else v0 + (v1 - v0) * (u - q0) / (q1 - q0)


def _bare_number_is_fixed(v: Any) -> Any:
    if isinstance(v, bool):
        return v
    if isinstance(v, int | float):
        return {"dist": "fixed", "value": v}
    if isinstance(v, dict) and "dist" not in v and set(v) == {"value"}:
        return {"dist": "fixed", **v}
    return v


Distribution = Annotated[
    Fixed | Uniform | Normal | LogNormal | Percentiles,
    Field(discriminator="dist"),
    BeforeValidator(_bare_number_is_fixed),
]
