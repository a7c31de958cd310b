"""Stepped rate sweeps that find a gateway's knee (`gatedrill sweep`)."""

from ..sweep_defaults import DEFAULT_RATES, DEFAULT_STEP_S, DEFAULT_WARM_UP_S
from .chart import overhead_chart, rate_chart, sweep_page
from .result import Step, SweepResult
from .stepping import step_of, sweep

__all__ = ["DEFAULT_RATES", "DEFAULT_STEP_S", "DEFAULT_WARM_UP_S", "Step", "SweepResult", "overhead_chart",
           "rate_chart", "step_of", "sweep", "sweep_page"]
