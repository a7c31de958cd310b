"""context_window's parameters: whether truncating an over-window prompt is allowed."""

from __future__ import annotations

from pydantic import Field

from .base import CheckParams


class ContextWindowParams(CheckParams):
    allow_truncation: bool | None = Field(default=None, description="a gateway may cut an over-window prompt to fit "
                                          "(default: the scenario's routing.allow_truncation)")
