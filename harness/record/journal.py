"""A fake's journal entry as a run record holds it (journal/NAME.jsonl): one request that reached a fake.

The fake writes these lines (`gatedrill.fakes.journal.Entry.to_dict`); this is the model every reader shares.
`tests/test_record_models.py` pins the two together, so a field renamed on one side fails a test, not a check.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Line(BaseModel):
    # Unknown keys are ignored (a newer writer may add some); known ones are typed.
    model_config = ConfigDict(extra="ignore")


class ToolCallRecord(_Line):
    id: str | None = None
    name: str | None = None
    arguments: Any = Field(default=None, description="the tool call's arguments as the fake produced them")


class ReplyChoice(_Line):
    text: str | None = Field(default=None, description="the assistant text the fake produced")
    finish: str | None = Field(default=None, description="its finish reason, in the provider's words")
    chunks: int | None = Field(default=None, description="stream pieces the reply was cut into")
    tool_calls: list[ToolCallRecord] = Field(default_factory=list)


class ReplyRecord(_Line):
    """What the fake answered, for checks: text, finish and tool calls per choice, and the conversation digest."""

    choices: list[ReplyChoice] = Field(default_factory=list)
    digest: str | None = Field(default=None, description="fakes.conversation.digest of the conversation received")

    @property
    def first(self) -> ReplyChoice | None:
        return self.choices[0] if self.choices else None


class JournalEntry(_Line):
    """One request as a fake saw it and answered it. Times: wall (epoch s) and monotonic (s, system-wide)."""

    seq: int = Field(default=0, description="arrival order within this fake (within its worker, when `worker` is set)")
    worker: int | None = Field(default=None, description=(
        "the worker process that served it, for a fake served by several (`workers:`); (worker, seq) is unique"))
    fake: str = Field(default="", description="the fake's name (the upstream's name in the scenario)")
    method: str = "POST"
    path: str = ""
    endpoint: str | None = Field(default=None, description="chat, messages, responses, embeddings, ...")
    model: str | None = None
    stream: bool | None = False
    correlation_id: str | None = Field(default=None, description="joins the entry with its client record")
    session_id: str | None = None
    turn: int | None = None
    arrival_wall: float = Field(description="when the request arrived (epoch s)")
    arrival_mono: float | None = None
    first_byte_mono: float | None = None
    last_byte_mono: float | None = None
    first_byte_wall: float | None = None
    last_byte_wall: float | None = None
    status: int | None = Field(default=None, description="the HTTP status the fake answered with")
    fault: str | None = Field(default=None, description="the fault rule (or kind) that shaped the answer")
    error: str | None = Field(default=None, description="the error message the fake sent")
    outcome: str | None = Field(default=None, description="complete, error, reset, closed_early, client_closed, ...")
    tokens_in: int | None = 0
    tokens_out: int | None = 0
    latency_injected_ms: float | None = 0.0
    headers: dict[str, str] = Field(default_factory=dict, description="request headers, secrets redacted")
    body_bytes: int | None = 0
    body: Any = Field(default=None, description="the request body as received (JSON), the wire's own shape")
    reply: ReplyRecord | None = None
    upstream: str = Field(default="", exclude=True,
                          description="not in the file: the journal file's name, set when the record is loaded")

    @property
    def ok(self) -> bool:
        """A successful attempt: a 2xx that completed (not cut off)."""
        return self.status is not None and 200 <= self.status < 300 and self.outcome in (None, "complete")

    @property
    def start_time(self) -> float:
        """Arrival, monotonic preferred (wall when a writer left it out)."""
        return self.arrival_mono if self.arrival_mono is not None else self.arrival_wall
