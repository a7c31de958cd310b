"""Gateway findings as data (findings.yaml): the model, the docs page rendered from it, and each finding's
reproduction folder (`gatedrill repro`)."""

from .model import FINDINGS_FILE, Finding, find, findings_json_schema, load_findings, published
from .page import anchor, findings_markdown
from .repro import write_repro

__all__ = ["FINDINGS_FILE", "Finding", "anchor", "find", "findings_json_schema", "findings_markdown", "load_findings",
           "published", "write_repro"]
