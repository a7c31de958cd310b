"""A finding as data: what a real gateway did in a drill, on which build, with its evidence, cause, status and a
minimal reproduction. `findings.yaml` beside this module holds every published one; the docs page, the scorecard's
links and `gatedrill repro` all read it, so a finding is stated once."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gatedrill.fakes.config import FakeConfig, format_validation_error
from gatedrill.fakes.errors import ConfigError

FINDINGS_FILE = Path(__file__).with_name("findings.yaml")
Gateway = Literal["litellm", "portkey", "nginx", "haproxy"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Install(_Strict):
    """How the gateway was installed: a finding can depend on the build (npm package against repository build)."""

    method: str = Field(description="e.g. pip install 'litellm[proxy]', npm @portkey-ai/gateway")
    dependencies: dict[str, str] = Field(default_factory=dict,
                                         description="every dependency the finding depends on, name -> version "
                                                     "(or 'absent')")


class Cell(_Strict):
    """A drill and check whose verdict on this gateway the finding explains (the scorecard links the cell here);
    drill `contract` names the gateway contract suite (`gatedrill contract`), where a finding shows outside drills."""

    drill: str
    check: str


class Evidence(_Strict):
    """Trimmed lines, as seen: what the client got, and what the fake's journal or the gateway's log said."""

    client: list[str] = Field(min_length=1)
    journal: list[str] = Field(default_factory=list)


class Status(_Strict):
    """open: the gateway does it today; fixed: a named version or build does not; limitation: documented or by
    design; corrected: an earlier reading of gatedrill's was wrong, and the finding states the right one."""

    state: Literal["open", "fixed", "limitation", "corrected"]
    fixed_in: str | None = Field(default=None, description="the version or build that behaves (state fixed)")
    note: str = ""

    @model_validator(mode="after")
    def _fixed_names_where(self) -> Status:
        if self.state == "fixed" and not self.fixed_in:
            raise ValueError("a fixed finding names the version or build that fixed it (fixed_in)")
        return self

    def label(self) -> str:
        if self.state == "fixed":
            return f"fixed in {self.fixed_in}"
        return {"open": "open", "limitation": "documented limitation", "corrected": "corrected reading"}[self.state]


class ReproVariant(_Strict):
    """The same reproduction under another build or install (an environment variable run.sh reads), and what the
    curl line shows then."""

    name: str = Field(pattern=r"^[a-z0-9-]+$")
    env: dict[str, str] = Field(min_length=1, description="variables to set for run.sh")
    what: str
    expect: list[str] = Field(min_length=1, description="regular expressions the curl output must match")
    expect_absent: list[str] = Field(default_factory=list)


class Repro(_Strict):
    """A minimal reproduction: one fake, the gateway's config, requests sent first (in sequence, then after a
    pause at once; output discarded), then one curl line whose output shows the behaviour (during a reload, where
    `reload_at_s` asks for one). nginx's config is the adapter's own, rendered from `gateway_config` as a routing
    intent over the fake."""

    fake: dict[str, Any] = Field(description="one fake's config, as `gatedrill fake serve --config` reads it")
    gateway_config: dict[str, Any] | str = Field(description="the gateway's own config (LiteLLM config.yaml, "
                                                             "Portkey's x-portkey-config; HAProxy's haproxy.cfg "
                                                             "as text), or for nginx the routing intent the adapter "
                                                             "renders its nginx.conf from (upstream: the fake)")
    body: dict[str, Any] = Field(description="the request body sent to /v1/chat/completions")
    auth: bool = Field(default=True, description="send the gateway's key (from a file, never on a command line)")
    before: int = Field(default=0, ge=0, le=50, description="identical requests sent first, output discarded")
    pause_s: float = Field(default=0, ge=0, le=60, description="wait after the `before` requests")
    burst: int = Field(default=0, ge=0, le=50, description="then this many identical requests at once, output "
                                                           "discarded")
    show: Literal["gateway", "fake-metrics", "gateway-stats"] = Field(
        default="gateway", description="what the curl line asks: the gateway (the request itself), the fake's "
                                       "Prometheus counts after the `before` requests, or the gateway's own stats "
                                       "(HAProxy's stats page as CSV, `stats uri /stats`)")
    reload_at_s: float | None = Field(
        default=None, gt=0, le=10,
        description="reload the gateway gracefully this long after the curl line starts (SIGHUP to nginx's master, or "
                    "to LiteLLM's gunicorn master, which then runs under --run_gunicorn); the curl line then sends "
                    "the request twice on one kept-alive connection (`--next`, verbose), so its output shows what "
                    "became of the connection")
    log: str | None = Field(default=None, description="a regular expression (grep -E): after the curl line, the "
                                                     "gateway log's matching lines are printed as `gateway log: ...`")
    expect: list[str] = Field(min_length=1, description="regular expressions the curl output must match")
    expect_absent: list[str] = Field(default_factory=list)
    variants: list[ReproVariant] = Field(default_factory=list)

    @model_validator(mode="after")
    def _fake_is_valid(self) -> Repro:
        try:
            FakeConfig.model_validate(self.fake)
        except ValidationError as exc:
            raise ValueError(f"repro.fake is not a valid fake config: {format_validation_error(exc)}") from None
        return self


class Finding(_Strict):
    id: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", description="stable: links and `gatedrill repro` use it")
    title: str
    gateway: Gateway
    version: str
    install: Install
    cells: list[Cell] = Field(min_length=1)
    evidence: Evidence
    explanation: str = Field(description="one paragraph that names the cause")
    status: Status
    corrects: str | None = Field(default=None, description="what gatedrill said before, where this corrects it")
    repro: Repro

    def affects(self, gateway: str, version: str | None, drill: str, check: str) -> bool:
        """Does this finding explain that scorecard cell (same gateway and version, same drill and check)?"""
        return (gateway == self.gateway and (version is None or version == self.version)
                and any(c.drill == drill and c.check == check for c in self.cells))


class FindingsFile(_Strict):
    findings: list[Finding]

    @model_validator(mode="after")
    def _unique_ids(self) -> FindingsFile:
        ids = [f.id for f in self.findings]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"finding ids must be unique: {', '.join(dupes)}")
        return self


def load_findings(path: Path = FINDINGS_FILE) -> list[Finding]:
    """Every finding in `path`; a malformed file is one ConfigError naming the key."""
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read findings: {exc}") from None
    try:
        return FindingsFile.model_validate(data).findings
    except ValidationError as exc:
        raise ConfigError(f"{path}: {format_validation_error(exc)}") from None


@cache
def published() -> tuple[Finding, ...]:
    """The findings shipped with this version of gatedrill."""
    return tuple(load_findings())


def find(finding_id: str) -> Finding:
    """One published finding by id, or a ConfigError listing the ids."""
    for f in published():
        if f.id == finding_id:
            return f
    raise ConfigError(f"unknown finding {finding_id!r}; choose one of: {', '.join(f.id for f in published())}")


def findings_json_schema() -> dict[str, Any]:
    """The JSON Schema of findings.yaml (for editors; tests compare it with findings.schema.json)."""
    return FindingsFile.model_json_schema()
