"""The `gatedrill` pytest plugin (entry point pytest11): scenario files as tests, drill fixtures and the fakes.

- `pytest scenarios/` collects each scenario YAML under a path named on the command line as a test file with one
  item per check (`pytest_items`); `-k`, `--junitxml` and xdist work as for any test. Set the ini option
  `gatedrill_collect = always` to collect them wherever pytest looks (testpaths too), `never` to turn it off.
- Fixtures: `gatedrill_run` (run and judge a scenario), `gateway_url` (the gateway under test, or a reference
  gateway in front of fakes), and the fakes' own: `fake_openai`, `fake_anthropic`, `fake_factory`,
  `intercepted_providers`.
- Options `--gatedrill-gateway`, `--gatedrill-scale`, `--gatedrill-out`, ... default to `gatedrill.yaml` in the
  current directory (or the rootdir), then to gatedrill's own defaults.

pytest loads this module in every session of an environment that has gatedrill, so it imports only pytest here;
the harness loads when a scenario is collected or a fixture is used.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from gatedrill.fakes.pytest_plugin import fake_anthropic, fake_factory, fake_openai, intercepted_providers

if TYPE_CHECKING:
    from .report import JudgedRun
    from .scenario import Scenario

__all__ = ["fake_anthropic", "fake_factory", "fake_openai", "gatedrill_run", "gateway_url", "intercepted_providers"]

COLLECT_MODES = ("args", "always", "never")
_TOP_KEY = re.compile(r"^(upstreams|gateway|load)\s*:", re.MULTILINE)
_MAX_SNIFF = 1 << 20


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gatedrill", "gatedrill drills (scenario files and fixtures)")
    group.addoption("--gatedrill-gateway", default=None, metavar="GATEWAY",
                    help="gateway under test: 'reference' (embedded, default), 'url:http://HOST:PORT' (yours), or "
                         "an adapter name; also what `gateway_url` yields")
    group.addoption("--gatedrill-scale", type=float, default=None, metavar="F",
                    help="multiply scenario durations and timeline times (default 1, or gatedrill.yaml's scale)")
    group.addoption("--gatedrill-out", default=None, metavar="DIR",
                    help="folder for run records (default: gatedrill.yaml's out, else a folder under basetemp)")
    group.addoption("--gatedrill-seed", type=int, default=None, metavar="N", help="override every scenario's seed")
    group.addoption("--gatedrill-mutant", default=None, metavar="NAME",
                    help="run the reference gateway with a deliberate bug (to see the checks catch it)")
    group.addoption("--gatedrill-allow-inconclusive", action="store_true", default=False,
                    help="report Inconclusive verdicts (not enough data) as skipped instead of failed")
    group.addoption("--gatedrill-set", action="append", default=[], metavar="CHECK.PARAM=VALUE",
                    help="override a check parameter when judging, e.g. overhead.critical=false (repeatable)")
    parser.addini("gatedrill_collect", default="args",
                  help="collect scenario YAML files: 'args' (under paths named on the command line; default), "
                       "'always' (wherever pytest collects, testpaths too), 'never'")


def pytest_configure(config: pytest.Config) -> None:
    from gatedrill.fakes.errors import GatedrillError

    from .pytest_items import SESSION, SETTINGS
    from .settings import RunSettings

    mode = config.getini("gatedrill_collect")
    if mode not in COLLECT_MODES:
        raise pytest.UsageError(f"gatedrill_collect = {mode!r}; use one of: {', '.join(COLLECT_MODES)}")
    try:
        config.stash[SETTINGS] = RunSettings.resolve(
            gateway=config.getoption("gatedrill_gateway"), scale=config.getoption("gatedrill_scale"),
            out=config.getoption("gatedrill_out"), seed=config.getoption("gatedrill_seed"),
            mutant=config.getoption("gatedrill_mutant"),
            allow_inconclusive=config.getoption("gatedrill_allow_inconclusive"),
            sets=config.getoption("gatedrill_set"),
            directories=[config.invocation_params.dir, config.rootpath])
    except GatedrillError as exc:
        raise pytest.UsageError(str(exc).replace("--set", "--gatedrill-set")) from None
    config.stash[SESSION] = os.environ.get("PYTEST_XDIST_TESTRUNUID") or uuid.uuid4().hex


def pytest_report_header(config: pytest.Config) -> str | None:
    """One header line with the drill settings, when this project uses gatedrill.yaml or a --gatedrill-* option."""
    from .pytest_items import SETTINGS

    s = config.stash[SETTINGS]
    named = any(a.startswith("--gatedrill") for a in config.invocation_params.args)
    if s.project_file is None and not named:
        return None
    where = f" (defaults from {s.project_file})" if s.project_file else ""
    return (f"gatedrill: gateway {s.gateway}, scale {s.scale:g}, run records in "
            f"{s.out or 'basetemp/gatedrill'}{where}")


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix not in (".yaml", ".yml") or not _collects(parent.config, file_path):
        return None
    if not looks_like_scenario(file_path):
        return None
    from .pytest_items import ScenarioFile

    return ScenarioFile.from_parent(parent, path=file_path)


def looks_like_scenario(path: Path) -> bool:
    """A YAML file with top-level `upstreams`, `gateway` and `load` keys. Judged on the text, so a scenario with a
    YAML error is still collected (and reported with its line) while other YAML (CI configs, data) is left alone."""
    try:
        if path.stat().st_size > _MAX_SNIFF:
            return False
        text = path.read_text(errors="replace")
    except OSError:
        return False
    return {m.group(1) for m in _TOP_KEY.finditer(text)} == {"upstreams", "gateway", "load"}


def _collects(config: pytest.Config, path: Path) -> bool:
    mode = config.getini("gatedrill_collect")
    if mode != "args":
        return bool(mode == "always")
    if config.args_source is not pytest.Config.ArgsSource.ARGS:
        return False
    roots = [(config.invocation_params.dir / a.split("::")[0]).resolve() for a in config.args]
    path = path.resolve()
    return any(path == r or r in path.parents for r in roots)


@pytest.fixture
def gatedrill_run(request: pytest.FixtureRequest) -> Callable[..., JudgedRun]:
    """Run and judge a scenario: `gatedrill_run("canary-split", scale=0.2)` returns a JudgedRun with `.path`,
    `.record`, `.verdicts`, `.passed` and `.verdict(name)`. Accepts a built-in name, a path or a Scenario; `scale`,
    `gateway`, `seed` and `mutant` default to the session's --gatedrill-* options. Each call is a fresh run in its
    own record folder (under --gatedrill-out, else the session's basetemp)."""
    import tempfile

    from .drill import drill
    from .pytest_items import SETTINGS, out_root

    settings = request.config.stash[SETTINGS]

    def run(scenario: str | Path | Scenario, *, scale: float | None = None, gateway: str | None = None,
            seed: int | None = None, mutant: str | None = None) -> JudgedRun:
        name = getattr(scenario, "name", None) or Path(str(scenario)).stem
        root = out_root(request.config)
        root.mkdir(parents=True, exist_ok=True)
        given = {"gateway": gateway, "mutant": mutant, "scale": scale, "seed": seed}
        opts = settings.run_options(out=Path(tempfile.mkdtemp(prefix=f"{name}-", dir=root)),
                                    **{k: v for k, v in given.items() if v is not None})
        return drill(scenario, opts, settings.overrides, settings.allow_inconclusive)

    return run


@pytest.fixture(scope="session")
def gateway_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL (no /v1) of the gateway under test: `--gatedrill-gateway url:URL` as given; otherwise the
    reference gateway in front of an OpenAI fake (public model `drill`, an Anthropic fake as fallback), started
    for this session (each xdist worker its own, on free ports) and stopped at its end."""
    from .pytest_items import SETTINGS
    from .standing_gateway import standing_gateway

    settings = request.config.stash[SETTINGS]
    if settings.gateway.startswith("url:"):
        yield settings.gateway[4:].rstrip("/")
        return
    if settings.gateway != "reference":
        pytest.fail(f"gateway_url serves --gatedrill-gateway reference or url:URL, not {settings.gateway!r}; "
                    f"start that gateway yourself and pass url:URL", pytrace=False)
    with standing_gateway(None, tmp_path_factory.mktemp("gateway_url"), mutant=settings.mutant) as gw:
        yield gw.url
