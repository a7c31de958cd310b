"""`gatedrill.yaml`: a project's defaults for `gatedrill run` and the pytest plugin (gateway, out dir, scale).

It is read from the current directory; flags on the command line always win over it. Relative paths in it are
relative to the file. `gatedrill init` writes a commented one.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from gatedrill.fakes.errors import ConfigError

FILE_NAME = "gatedrill.yaml"


class ProjectConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gateway: str = Field(default="reference", description="'reference', 'url:http://HOST:PORT' or an adapter name")
    out: str | None = Field(default=None, description="folder for run records (default runs/)")
    scale: float = Field(default=1.0, gt=0, description="multiply scenario durations and timeline times")
    _path: Path | None = PrivateAttr(default=None)  # the file this came from: relative paths start there

    def source(self) -> Path | None:
        """The file these settings came from (None for defaults)."""
        return self._path

    def out_dir(self) -> Path | None:
        if self.out is None:
            return None
        out = Path(self.out).expanduser()
        return out if out.is_absolute() or self._path is None else self._path.parent / out


def load_project_config(directory: str | Path = ".") -> ProjectConfig | None:
    """The `gatedrill.yaml` in `directory`, validated, or None when there is none."""
    from .scenario import format_errors
    from .yaml_lines import load_with_lines

    path = Path(directory) / FILE_NAME
    if not path.is_file():
        return None
    data, lines = load_with_lines(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: expected a mapping with gateway, out and scale")
    try:
        cfg = ProjectConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_errors(exc, path, lines)) from None
    cfg._path = path
    return cfg
