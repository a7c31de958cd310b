"""MkDocs hook: replaces `<!-- findings -->` with every finding, rendered from the findings file
(gatedrill/harness/findings/findings.yaml) at build time, so the page and the data cannot disagree. A link to
`findings.md#ID` on any page must name a published finding: an unknown id fails the build."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = "<!-- findings -->"
LINK = re.compile(r"findings\.md#([a-z0-9-]+)")


def _findings() -> tuple[Any, ...]:
    """The published findings of this checkout (its root goes first on sys.path)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from gatedrill.harness.findings import load_findings

    return tuple(load_findings())


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    links = set(LINK.findall(markdown))
    if PLACEHOLDER not in markdown and not links:
        return markdown
    findings = _findings()
    unknown = sorted(links - {f.id for f in findings})
    if unknown:
        raise PluginError(f"{page.file.src_uri}: link to unknown finding(s) {', '.join(unknown)}")
    if PLACEHOLDER in markdown:
        from gatedrill.harness.findings import findings_markdown

        markdown = markdown.replace(PLACEHOLDER, findings_markdown(findings))
    return markdown
