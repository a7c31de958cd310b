"""Naming gateway saturation in the overhead verdict (`harness.saturation` finds it from the record): overhead
measured past the rate the gateway could serve is the queue the drill's own load built, not the gateway's cost."""

from __future__ import annotations

from dataclasses import asdict

from ..record import RunRecord
from ..saturation import gateway_saturation
from .verdict import Status, Verdict


def name_saturation(verdicts: list[Verdict], record: RunRecord) -> None:
    """Say it in the overhead verdict when the gateway could not keep up (its figures and, if not a pass, its
    summary): overhead measured past saturation is the queue the drill's own load built."""
    v = next((v for v in verdicts if v.check == "overhead"), None)
    if v is None:
        return
    sat = gateway_saturation(record)
    if sat is None:
        return
    v.figures["gateway_saturation"] = asdict(sat) | {"sentence": sat.sentence()}
    if sat.saturated and v.status is not Status.PASS:
        v.summary = f"{v.summary}; {sat.sentence()}"
