"""`checks:` in a scenario: one optional entry per built-in check, each typed by that check's parameters, so an
unknown check or parameter is a validation error with its line, and the JSON Schema lists every parameter."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_serializer, model_validator

from .accounting import AccountingParams
from .base import CheckParams
from .canary_split import CanarySplitParams
from .context_continuity import ContextContinuityParams
from .context_window import ContextWindowParams
from .cutover import CutoverParams
from .error_mapping import ErrorMappingParams
from .errors_explained import ErrorsExplainedParams
from .overhead import OverheadParams
from .retry_amplification import RetryAmplificationParams
from .rollback import RollbackParams
from .streaming_integrity import StreamingIntegrityParams

# Checks every drill runs whether its scenario lists them or not.
DEFAULT_CHECKS = ("errors_explained",)


class ChecksSpec(BaseModel):
    """The checks that judge the run, in the order given, each with its parameters (`{}`: the defaults)."""

    model_config = ConfigDict(extra="forbid")

    canary_split: CanarySplitParams | None = Field(default=None, description="traffic shares match the weights")
    rollback: RollbackParams | None = Field(default=None, description="a faulted upstream is taken out and back")
    retry_amplification: RetryAmplificationParams | None = Field(
        default=None, description="upstream attempts per request within a bound; retry-after honoured")
    context_continuity: ContextContinuityParams | None = Field(
        default=None, description="later turns reach their upstream with the client's exact history")
    context_window: ContextWindowParams | None = Field(
        default=None, description="over-window prompts land on a model that fits; none silently truncated")
    streaming_integrity: StreamingIntegrityParams | None = Field(
        default=None, description="clean client streams equal the upstream's; broken ones reach clients as errors")
    error_mapping: ErrorMappingParams | None = Field(
        default=None, description="upstream errors reach clients as the contract says")
    accounting: AccountingParams | None = Field(
        default=None, description="every request answered once; upstream calls reconcile")
    overhead: OverheadParams | None = Field(default=None, description="gateway overhead within budgets")
    cutover: CutoverParams | None = Field(
        default=None, description="a weight flip costs no errors, latency, streams or session history")
    errors_explained: ErrorsExplainedParams | None = Field(
        default=None, description="every client failure has a drill-made cause (on in every drill, listed or not)")
    _order: list[str] = PrivateAttr(default_factory=list)

    @model_validator(mode="wrap")
    @classmethod
    def _keep_order(cls, data: Any, handler: Any) -> ChecksSpec:
        spec: ChecksSpec = handler(data)
        for name in DEFAULT_CHECKS:  # on in every drill: a scenario may set their parameters, not leave them out
            if getattr(spec, name) is None:
                setattr(spec, name, cls.model_fields[name].annotation.__args__[0]())  # type: ignore[union-attr]
        given = list(data) if isinstance(data, dict) else data.names() if isinstance(data, ChecksSpec) else []
        spec._order = [n for n in given if getattr(spec, n, None) is not None]
        return spec

    @model_serializer(mode="wrap")
    def _only_given(self, handler: Any) -> dict[str, Any]:
        data = handler(self)
        return {name: data[name] for name in self.names()}

    def names(self) -> list[str]:
        """The checks the scenario asks for, in its order."""
        rest = [n for n in type(self).model_fields if getattr(self, n) is not None and n not in self._order]
        return [*self._order, *rest]

    def items(self) -> list[tuple[str, CheckParams]]:
        return [(n, getattr(self, n)) for n in self.names()]

    def get(self, name: str) -> CheckParams | None:
        return getattr(self, name, None) if name in type(self).model_fields else None

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __len__(self) -> int:
        return len(self.names())

    def __bool__(self) -> bool:
        return bool(self.names())
