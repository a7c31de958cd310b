"""Export the scenario JSON Schema for editors (`# yaml-language-server: $schema=scenario.schema.json`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .scenario import Scenario


def scenario_json_schema() -> dict[str, Any]:
    schema = Scenario.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "gatedrill scenario"
    return schema


def write_schema(path: Path) -> None:
    path.write_text(json.dumps(scenario_json_schema(), indent=2, sort_keys=True) + "\n")
