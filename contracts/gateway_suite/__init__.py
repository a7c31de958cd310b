"""The gateway contract suite: Schemathesis over the OpenAI-compatible gateway document, our SSE and error checks,
a 429 passthrough probe and stateful conversations, against a gateway with gatedrill fakes behind it.

>>> with start_target("reference") as target:
...     result = run_suite(target, SuiteOptions(max_examples=20))
...     print("\\n".join(result.summary_lines()))
"""

from .results import Finding, Part, SuiteResult
from .runner import BUILTIN_CHECKS, PARTS, SuiteOptions, contract_documents, run_suite, served_model
from .target import SuiteTarget, contract_scenario, start_target

__all__ = [
    "BUILTIN_CHECKS", "PARTS", "Finding", "Part", "SuiteOptions", "SuiteResult", "SuiteTarget",
    "contract_documents", "contract_scenario", "run_suite", "served_model", "start_target",
]
