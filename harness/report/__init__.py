"""Reports on a judged run: the terminal summary, JUnit XML, JSON and the offline HTML drill report.

Data flows one way: each report reads only the run record and the verdicts (`JudgedRun`); none recomputes one.
"""

from .html import html_report, write_html
from .json_report import FORMAT_VERSION, json_report, report_dict, write_json
from .judged import JudgedRun, judge_run
from .junit import junit_xml, write_junit
from .outputs import write_outputs
from .redact import redact
from .run_figures import run_figures
from .terminal import print_run_summary, print_verdicts, summary_lines, verdict_lines

__all__ = ["FORMAT_VERSION", "JudgedRun", "html_report", "json_report", "judge_run", "junit_xml",
           "print_run_summary", "print_verdicts", "redact", "report_dict", "run_figures", "summary_lines",
           "verdict_lines", "write_html", "write_json", "write_junit", "write_outputs"]
