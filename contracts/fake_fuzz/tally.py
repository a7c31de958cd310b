"""What a fuzz run found: request counts, and every crash, non-injected 5xx, hang and spec violation by kind.

Each finding kind keeps a count and up to a few distinct examples (a signature and a short request), so a run of
100,000 requests reports in a page. Hard findings (crash, 5xx, hang) are never acceptable; a spec violation is
acceptable only when `quirks.documented_quirk` names it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

HARD = ("crash", "server_error", "hang")
EXAMPLES_KEPT = 5


@dataclass
class Finding:
    kind: str  # crash | server_error | hang | spec_violation | quirk
    signature: str  # what makes two findings the same one, e.g. "POST /chat/completions: positive rejected: param"
    example: str  # the request (or raw bytes), shortened
    detail: str = ""


@dataclass
class FuzzTally:
    requests: int = 0
    by_part: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    counts: Counter[str] = field(default_factory=Counter)  # kind -> count
    signatures: Counter[str] = field(default_factory=Counter)  # kind + signature -> count
    examples: dict[str, list[Finding]] = field(default_factory=dict)

    def sent(self, part: str, status: int | str) -> None:
        self.requests += 1
        self.by_part[part] += 1
        self.statuses[str(status)] += 1

    def found(self, finding: Finding) -> None:
        self.counts[finding.kind] += 1
        key = f"{finding.kind}: {finding.signature}"
        self.signatures[key] += 1
        kept = self.examples.setdefault(key, [])
        if len(kept) < EXAMPLES_KEPT and len(self.examples) < 500:
            kept.append(finding)

    @property
    def hard(self) -> int:
        return sum(self.counts[k] for k in HARD)

    @property
    def violations(self) -> int:
        return self.counts["spec_violation"]

    def merge(self, other: FuzzTally) -> None:
        self.requests += other.requests
        self.by_part.update(other.by_part)
        self.statuses.update(other.statuses)
        self.counts.update(other.counts)
        self.signatures.update(other.signatures)
        for k, v in other.examples.items():
            kept = self.examples.setdefault(k, [])
            kept.extend(v[: max(0, EXAMPLES_KEPT - len(kept))])

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests, "by_part": dict(self.by_part), "statuses": dict(self.statuses),
            "counts": {k: self.counts[k] for k in (*HARD, "spec_violation", "quirk", "generator_error")},
            "findings": [{"finding": key, "count": n,
                          "examples": [{"request": f.example, "detail": f.detail} for f in self.examples.get(key, [])]}
                         for key, n in self.signatures.most_common()],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FuzzTally:
        t = cls(requests=int(d["requests"]), by_part=Counter(d["by_part"]), statuses=Counter(d["statuses"]),
                counts=Counter(d["counts"]))
        for f in d["findings"]:
            t.signatures[f["finding"]] = f["count"]
            kind, _, sig = f["finding"].partition(": ")
            t.examples[f["finding"]] = [Finding(kind, sig, e["request"], e["detail"]) for e in f["examples"]]
        return t
