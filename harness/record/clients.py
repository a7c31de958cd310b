"""Client records as a run record holds them (clients.jsonl): what the load generator saw of each request.

The load generator writes `ClientRecord`s (a plain dataclass, cheap to build at full rate); readers validate the
same class with pydantic, so writer and reader share one definition.
"""

from __future__ import annotations

from pydantic import TypeAdapter

from ..load.records import ClientRecord

CLIENT_RECORD = TypeAdapter(ClientRecord)

__all__ = ["CLIENT_RECORD", "ClientRecord"]
