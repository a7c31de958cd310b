"""The findings page's markdown, rendered from findings.yaml (the docs hook fills docs/findings.md with it), so the
page cannot say anything the data does not."""

from __future__ import annotations

from .model import Finding


def anchor(finding: Finding) -> str:
    """The finding's anchor on the findings page: its id (a heading attribute, so it never changes with the title)."""
    return finding.id


def _quote(lines: list[str]) -> list[str]:
    return ["```text", *lines, "```"]


def finding_markdown(f: Finding) -> str:
    cells = ", ".join(f"{c.drill} / `{c.check}`" for c in f.cells)
    deps = "; ".join(f"{k} {v}" for k, v in f.install.dependencies.items())
    lines = [f"### {f.title} {{#{anchor(f)}}}", "",
             f'<div class="finding" id="finding-{f.id}" markdown="1">', "",
             "| | |", "|---|---|",
             f"| id | `{f.id}` |",
             f"| gateway | {f.gateway} {f.version} |",
             f"| install | {f.install.method}" + (f"; {deps}" if deps else "") + " |",
             f"| drill / check | {cells} |",
             f"| status | **{f.status.label()}**" + (f": {f.status.note}" if f.status.note else "") + " |",
             f"| reproduce | `gatedrill repro {f.id}` |", ""]
    if f.corrects:
        lines += [f"**Corrects:** {f.corrects}", ""]
    lines += ["Client:", "", *_quote(f.evidence.client), ""]
    if f.evidence.journal:
        lines += ["Fake journal / gateway log:", "", *_quote(f.evidence.journal), ""]
    lines += [f.explanation, ""]
    for v in f.repro.variants:
        env = " ".join(f"{k}=..." for k in v.env)
        lines += [f"Variant `{v.name}` (`{env} ./run.sh`): {v.what}.", ""]
    lines += ["</div>", ""]
    return "\n".join(lines)


def findings_markdown(findings: list[Finding] | tuple[Finding, ...]) -> str:
    """Every finding, grouped by gateway, with an index table first."""
    out = ["| id | gateway | drill / check | status |", "|---|---|---|---|"]
    for f in findings:
        first = f.cells[0]
        out.append(f"| [`{f.id}`](#{anchor(f)}) | {f.gateway} {f.version} | {first.drill} / `{first.check}` | "
                   f"{f.status.label()} |")
    out.append("")
    for gateway in dict.fromkeys(f.gateway for f in findings):
        out += [f"## {gateway}", ""]
        out += [finding_markdown(f) for f in findings if f.gateway == gateway]
    return "\n".join(out)
