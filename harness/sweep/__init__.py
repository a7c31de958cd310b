"""Stepped rate sweeps that find a gateway's knee (`gatedrill sweep`)."""

from .chart import overhead_chart, rate_chart, sweep_page
from .result import Step, SweepResult
from .stepping import DEFAULT_RATES, step_of, sweep

__all__ = ["DEFAULT_RATES", "Step", "SweepResult", "overhead_chart", "rate_chart", "step_of", "sweep", "sweep_page"]
