"""How a drill runs and is judged in this project, resolved once for the CLI and the pytest plugin alike.

Precedence, for every setting: a flag given on the command line, then `gatedrill.yaml` (the first directory
searched that has one), then gatedrill's default.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from gatedrill.fakes.errors import ConfigError

from .intent import Limitation
from .project_config import FILE_NAME, ProjectConfig, load_project_config

if TYPE_CHECKING:
    from .runner import RunOptions


@dataclass(frozen=True)
class RunSettings:
    gateway: str = "reference"  # "reference", an adapter name or "url:http://HOST:PORT"
    scale: float = 1.0
    out: Path | None = None  # the folder run records go in (each run its own folder inside it); None: the default
    seed: int | None = None
    mutant: str | None = None
    allow_inconclusive: bool = False
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)  # check parameters, applied when judging
    limitations: list[Limitation] = field(default_factory=list)  # --limitation: added to the scenario's gateway
    project_file: Path | None = None  # the gatedrill.yaml the defaults came from

    @classmethod
    def resolve(cls, *, gateway: str | None = None, scale: float | None = None, out: str | Path | None = None,
                seed: int | None = None, mutant: str | None = None, allow_inconclusive: bool = False,
                sets: list[str] | tuple[str, ...] = (), limitations: list[str] | tuple[str, ...] = (),
                directories: list[Path] | None = None) -> RunSettings:
        """Flags (None: not given) over the first gatedrill.yaml found in `directories` (default: the current
        one) over the defaults. `sets` (check.param=value) and `limitations` (FEATURE=CHECK[,CHECK][@PHASE]) are
        validated now, before any drill runs."""
        from .check_params import parse_overrides

        project = _project(directories or [Path(".")])
        cfg = project or ProjectConfig()
        return cls(
            gateway=gateway or cfg.gateway,
            scale=scale if scale is not None else cfg.scale,
            out=Path(out).resolve() if out is not None else cfg.out_dir(),
            seed=seed,
            mutant=mutant,
            allow_inconclusive=allow_inconclusive,
            overrides=parse_overrides(list(sets)),
            limitations=[_limitation(text) for text in limitations],
            project_file=project.source() if project else None,
        )

    def run_options(self, **extra: Any) -> RunOptions:
        """The runner's options for one run of these settings (`extra`: out, progress, notice, or an override)."""
        from .runner import RunOptions

        base: dict[str, Any] = {"gateway": self.gateway, "scale": self.scale, "seed": self.seed,
                                "mutant": self.mutant, "limitations": self.limitations}
        return RunOptions(**{**base, **extra})

    def run_dir(self, scenario_ref: str, given: str | Path | None = None) -> Path | None:
        """The record folder of one `gatedrill run`: `--out` as given, else a fresh NAME-TIME folder inside `out`,
        else None (the runner's default, runs/NAME-TIME)."""
        if given is not None:
            return Path(given)
        if self.out is None:
            return None
        from gatedrill.scenarios import resolve

        from .runner import default_out
        from .scenario import load_scenario

        return self.out / default_out(load_scenario(resolve(scenario_ref))).name

    def identity(self) -> dict[str, Any]:
        """The settings that change what a drill runs (two runs that agree on these ran the same drill)."""
        return {"gateway": self.gateway, "scale": self.scale, "seed": self.seed, "mutant": self.mutant}


def _project(directories: list[Path]) -> ProjectConfig | None:
    for directory in dict.fromkeys(directories):
        if (Path(directory) / FILE_NAME).is_file():
            return load_project_config(directory)
    return None


def _limitation(text: str) -> Limitation:
    try:
        return Limitation.parse(text)
    except ValueError as exc:  # pydantic's ValidationError is one
        first = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        raise ConfigError(first.removeprefix("Value error, ")) from None
