"""The conformance matrix: property x target, pass or fail, with each failure's shrunk counter-example;
rendered as text for a terminal and as JUnit XML for CI."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson


@dataclass(slots=True)
class Cell:
    prop: str
    target: str
    passed: bool
    examples: int
    seconds: float
    message: str = ""
    example: Any = None  # the shrunk counter-example (a unified request, or a (request, extra) pair)
    findings: list[tuple[str, Any]] = field(default_factory=list)  # every distinct gap: (message, example)

    def example_json(self, example: Any = None, limit: int = 4000) -> str:
        text = orjson.dumps(self.example if example is None else example,
                            option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS, default=str).decode()
        return text if len(text) <= limit else text[:limit] + f"\n... ({len(text) - limit} more characters)"

    def all_findings(self) -> list[tuple[str, Any]]:
        return self.findings or ([] if self.passed else [(self.message, self.example)])


@dataclass(slots=True)
class Matrix:
    title: str
    cells: list[Cell] = field(default_factory=list)

    @property
    def targets(self) -> list[str]:
        return list(dict.fromkeys(c.target for c in self.cells))

    @property
    def properties(self) -> list[str]:
        return list(dict.fromkeys(c.prop for c in self.cells))

    @property
    def failures(self) -> list[Cell]:
        return [c for c in self.cells if not c.passed]

    @property
    def passed(self) -> bool:
        return not self.failures

    def cell(self, prop: str, target: str) -> Cell | None:
        return next((c for c in self.cells if c.prop == prop and c.target == target), None)

    def render(self) -> str:
        targets = self.targets
        width = max([len(p) for p in self.properties] + [8])
        cols = [max(len(t), 4) for t in targets]
        lines = [self.title, "", "property".ljust(width) + "  " + "  ".join(t.ljust(w) for t, w in zip(
            targets, cols, strict=True))]
        for prop in self.properties:
            row = []
            for t, w in zip(targets, cols, strict=True):
                c = self.cell(prop, t)
                row.append(("-" if c is None else "pass" if c.passed else "FAIL").ljust(w))
            lines.append(prop.ljust(width) + "  " + "  ".join(row))
        for c in self.failures:
            for message, example in c.all_findings():
                lines += ["", f"FAIL {c.prop} x {c.target}: {message}", "  counter-example (shrunk):"]
                lines += ["    " + line for line in c.example_json(example).splitlines()]
        lines += ["", f"{len(self.cells) - len(self.failures)} of {len(self.cells)} passed"]
        return "\n".join(lines)

    def junit(self) -> str:
        suites = ET.Element("testsuites", name=self.title, tests=str(len(self.cells)),
                            failures=str(len(self.failures)))
        for target in self.targets:
            cells = [c for c in self.cells if c.target == target]
            suite = ET.SubElement(suites, "testsuite", name=f"adapter-contract {target}", tests=str(len(cells)),
                                  failures=str(sum(not c.passed for c in cells)),
                                  time=f"{sum(c.seconds for c in cells):.3f}")
            for c in cells:
                case = ET.SubElement(suite, "testcase", classname=f"adapter_contract.{target}", name=c.prop,
                                     time=f"{c.seconds:.3f}")
                if not c.passed:
                    failure = ET.SubElement(case, "failure", message=c.message[:500], type="ContractViolation")
                    failure.text = "\n\n".join(f"{m}\ncounter-example (shrunk):\n{c.example_json(e)}"
                                                 for m, e in c.all_findings())
                ET.SubElement(case, "system-out").text = f"{c.examples} examples"
        ET.indent(suites)
        return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"

    def write_junit(self, path: str | Path) -> None:
        Path(path).write_text(self.junit(), encoding="utf-8")
