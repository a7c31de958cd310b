"""Release comparison: judge a candidate gateway build against a baseline on the same drill (`gatedrill compare`)."""

from .comparison import CompareParams, Comparison, MetricResult, VerdictChange, compare, compare_runs
from .metrics import RunMetrics, run_metrics
from .outputs import html_page, html_section, junit_xml, summary_lines, to_json, write_outputs

__all__ = ["CompareParams", "Comparison", "MetricResult", "RunMetrics", "VerdictChange", "compare", "compare_runs",
           "html_page", "html_section", "junit_xml", "run_metrics", "summary_lines", "to_json", "write_outputs"]
