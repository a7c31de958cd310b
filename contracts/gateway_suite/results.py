"""What a suite run found: one `Finding` per distinct failure (with the minimal failing request as a curl line),
the parts that ran, and a JUnit XML rendering for CI."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Finding:
    part: str  # e.g. "POST /v1/chat/completions [positive]", "rate_limit_passthrough"
    checks: list[str]  # the checks that failed
    message: str
    curl: str | None = None

    def lines(self) -> list[str]:
        out = [f"FAIL  {self.part}: {', '.join(self.checks)}"]
        out += [f"      {ln}" for ln in self.message.strip().splitlines()[:12]]
        if self.curl:
            out.append(f"      reproduce: {self.curl}")
        return out


@dataclass
class Part:
    name: str
    cases: int = 0
    seconds: float = 0.0
    skipped: str | None = None  # why it did not run
    findings: list[Finding] = field(default_factory=list)


@dataclass
class SuiteResult:
    gateway: str
    parts: list[Part] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def findings(self) -> list[Finding]:
        return [f for p in self.parts for f in p.findings]

    @property
    def ok(self) -> bool:
        return not self.findings

    def failed_checks(self) -> set[str]:
        return {c for f in self.findings for c in f.checks}

    def summary_lines(self) -> list[str]:
        out = []
        for p in self.parts:
            if p.skipped:
                out.append(f"SKIP  {p.name}: {p.skipped}")
            elif not p.findings:
                out.append(f"PASS  {p.name} ({p.cases} cases, {p.seconds:.1f} s)")
            for f in p.findings:
                out.extend(f.lines())
        verdict = "passed" if self.ok else f"FAILED ({len(self.findings)} findings)"
        out.append(f"gateway contract suite against {self.gateway}: {verdict} in {self.seconds:.1f} s")
        return out

    def write_junit(self, path: str | Path) -> None:
        suite = ET.Element("testsuite", name="gatedrill.contract", tests=str(len(self.parts)),
                           failures=str(sum(1 for p in self.parts if p.findings)),
                           skipped=str(sum(1 for p in self.parts if p.skipped)), time=f"{self.seconds:.3f}")
        for p in self.parts:
            case = ET.SubElement(suite, "testcase", classname=f"contract.{self.gateway}", name=p.name,
                                 time=f"{p.seconds:.3f}")
            if p.skipped:
                ET.SubElement(case, "skipped", message=p.skipped)
            for f in p.findings:
                node = ET.SubElement(case, "failure", message=f"{', '.join(f.checks)}", type="contract")
                node.text = f.message + (f"\n\nReproduce with:\n    {f.curl}" if f.curl else "")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)
