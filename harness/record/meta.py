"""A run's meta.json: what ran (drill, seed, scale, config hash, versions), against what gateway, and how it ended.

It is written first, with `outcome: running`, so a record whose runner was killed is still recognisable.
"""

from __future__ import annotations

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from ..intent import Limitation
from .phases import RUNNING, Outcome

# Bump when a field of any record file changes meaning or goes away (adding one keeps it). Records of version 1 were
# written before this field existed, under the key `format`; both are read.
RECORD_VERSION = 1


class GatewayMeta(BaseModel):
    model_config = ConfigDict(extra="ignore")

    kind: str | None = Field(default=None, description="reference, litellm, portkey, nginx, haproxy, container "
                             "or url")
    url: str | None = None
    version: str | None = Field(default=None, description="the gateway's version, for those gatedrill installs or "
                                "finds (litellm, portkey, nginx, haproxy)")
    install: str | None = Field(default=None, description="how that gateway was installed (e.g. Debian package)")
    mutant: str | None = Field(default=None, description="the reference gateway's deliberate bug, if any")
    limitations: list[Limitation] = Field(default_factory=list)
    claims: dict[str, str] = Field(default_factory=dict, description="meaning -> response header the gateway "
                                   "states it in (upstream, attempts, ...)")


class AdoptedFakeMeta(BaseModel):
    """An upstream served by a fake gatedrill did not start (`gatedrill run --adopt-fake NAME=URL`): where it was,
    and how its clocks were mapped onto the runner's (its journal's times are shifted by these offsets)."""

    model_config = ConfigDict(extra="ignore")

    url: str
    mono_offset_s: float = Field(default=0.0, description="added to the fake's monotonic times (0: the same clock)")
    wall_offset_s: float = Field(default=0.0, description="added to the fake's wall times")
    clock_error_s: float = Field(default=0.0, description="half the round trip of the best clock reading: the "
                                 "offsets' uncertainty")


class RunMeta(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    record_version: int = Field(default=RECORD_VERSION, validation_alias=AliasChoices("record_version", "format"),
                                description="the run record's format version")
    scenario: str = Field(default="", description="the drill's name")
    seed: int | None = None
    scale: float | None = 1.0
    config_hash: str | None = Field(default=None, description="hash of the resolved scenario: same hash, same drill")
    versions: dict[str, str] = Field(default_factory=dict, description="python, platform and package versions")
    gateway: GatewayMeta = Field(default_factory=GatewayMeta)
    fakes: dict[str, str] = Field(default_factory=dict, description="upstream name -> the fake's base URL")
    adopted_fakes: dict[str, AdoptedFakeMeta] = Field(default_factory=dict, description=(
        "upstreams served by standalone fakes the run adopted instead of starting its own"))
    control_url: str | None = Field(default=None, description="the same-run control arm's fake (None: no control arm)")
    warm_up_status: int | None = Field(default=None, description="the HTTP status of the warm-up request")
    load_start_wall: float | None = Field(default=None, description="the load's t0 (epoch s)")
    end_wall: float | None = Field(default=None, description="when the runner finished (epoch s)")
    outcome: Outcome = Field(default=RUNNING, description='"running" if the runner itself was killed')
    error: str | None = Field(default=None, description="why the run failed (outcome failed)")
