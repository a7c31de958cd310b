"""The run record's JSON Schema, one definition per file, for people who read records with other tools
(`gatedrill record schema`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, TypeAdapter

from ..scenario import Scenario
from .clients import ClientRecord
from .control import CONTROL_CLIENTS, CONTROL_JOURNAL
from .host import HOST_FILE, HostSample
from .journal import JournalEntry
from .load_summary import LoadSummary
from .meta import RECORD_VERSION, RunMeta
from .timeline import TimelineEvent

FILES: dict[str, tuple[str, Any]] = {
    "meta.json": ("RunMeta", RunMeta),
    "scenario.json": ("Scenario", Scenario),
    "timeline.jsonl": ("TimelineEvent", TimelineEvent),
    "clients.jsonl": ("ClientRecord", ClientRecord),
    "journal/NAME.jsonl": ("JournalEntry", JournalEntry),
    "load.json": ("LoadSummary", LoadSummary),
    HOST_FILE: ("HostSample", HostSample),
    CONTROL_CLIENTS: ("ClientRecord", ClientRecord),
    CONTROL_JOURNAL: ("JournalEntry", JournalEntry),
}


def record_json_schema() -> dict[str, Any]:
    """`$defs` holds one schema per record file's line or document; `files` maps each file to its definition."""
    defs: dict[str, Any] = {}
    for _, (name, model) in FILES.items():
        if isinstance(model, type) and issubclass(model, BaseModel):
            schema = model.model_json_schema(ref_template="#/$defs/{model}")
        else:
            schema = TypeAdapter(model).json_schema(ref_template="#/$defs/{model}")
        defs.update(schema.pop("$defs", {}))
        defs[name] = schema
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "gatedrill run record",
        "description": f"A run record folder, record_version {RECORD_VERSION}: one definition per file "
                       "(JSONL files: per line).",
        "record_version": RECORD_VERSION,
        "files": {path: {"$ref": f"#/$defs/{name}"} for path, (name, _) in FILES.items()},
        "$defs": defs,
    }


__all__ = ["FILES", "record_json_schema"]
