"""The documentation holds: the MkDocs site builds with --strict (a broken link, anchor or nav entry fails it), the
README stays a front page, every registered check has its generated parameter table, and every `gatedrill ...`
command the README and docs show exists with the options it is shown with."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import click
import pytest

from gatedrill.cli import main
from gatedrill.harness.checks import REGISTRY
from gatedrill.scenarios import builtin_names

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
README_MAX_BYTES = 10 * 1024


def build(project: Path, site: Path) -> subprocess.CompletedProcess[str]:
    """`mkdocs build --strict` of `project` (its mkdocs.yml, docs/ and README.md) into `site`, as CI runs it.

    Never with -q: quiet mode drops warnings before --strict counts them, and a broken link then builds cleanly.
    """
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)], cwd=project,
                          capture_output=True, text=True, timeout=180,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})


def copy_project(dest: Path) -> Path:
    """The files the site is built from, copied so a test can break one without touching the checkout."""
    shutil.copytree(ROOT / "docs", dest / "docs")
    for name in ("mkdocs.yml", "README.md"):
        shutil.copy(ROOT / name, dest / name)
    return dest


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    proc = build(ROOT, out)
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return out


def test_the_site_builds_strictly_with_every_page(site: Path) -> None:
    for page in ("index", "scenarios", "drills", "checks", "run-record", "reports", "gateways", "behaviour-matrix",
                 "findings", "scorecard", "fakes", "contracts", "ci", "cli", "security"):
        path = site / ("index.html" if page == "index" else f"{page}/index.html")
        assert path.exists(), f"{page} missing from the built site"
    index = (site / "index.html").read_text()
    assert "--8&lt;--" not in index and "quickstart:begin" in index, "README snippets were not included"


@pytest.mark.parametrize("breakage", ["link", "anchor", "nav", "snippet"])
def test_a_broken_reference_fails_the_build(tmp_path: Path, breakage: str) -> None:
    project = copy_project(tmp_path / "project")
    page = project / "docs" / "security.md"
    if breakage == "link":
        page.write_text(page.read_text() + "\nSee [nowhere](no-such-page.md).\n")
    elif breakage == "anchor":
        page.write_text(page.read_text() + "\nSee [checks](checks.md#no-such-section).\n")
    elif breakage == "nav":
        config = project / "mkdocs.yml"
        config.write_text(config.read_text().replace("  - Security: security.md", "  - Security: gone.md"))
    else:
        page.write_text(page.read_text() + '\n--8<-- "README.md:no-such-section"\n')
    proc = build(project, tmp_path / "site")
    assert proc.returncode != 0, f"a broken {breakage} built cleanly:\n{proc.stderr[-2000:]}"


def test_a_check_without_its_parameter_table_fails_the_build(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project")
    checks = project / "docs" / "checks.md"
    checks.write_text(checks.read_text().replace("<!-- check-params: rollback -->", ""))
    proc = build(project, tmp_path / "site")
    assert proc.returncode != 0 and "rollback" in proc.stderr, proc.stderr[-2000:]


def test_the_readme_is_a_front_page() -> None:
    size = len(README.read_bytes())
    assert size <= README_MAX_BYTES, f"README.md is {size} bytes; move detail into docs/ (limit {README_MAX_BYTES})"


class _ParamTables(HTMLParser):
    """Collects, per `<div id="params-NAME">`, the first cell of each body row (the parameter names)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[str]] = {}
        self._check: str | None = None
        self._depth = 0
        self._cell = 0
        self._in_body = False
        self._text: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        ident = dict(attrs).get("id") or ""
        if tag == "div" and ident.startswith("params-"):
            self._check, self._depth = ident[len("params-"):], 0
            self.tables[self._check] = []
        if self._check is None:
            return
        if tag == "div":
            self._depth += 1
        elif tag == "tbody":
            self._in_body = True
        elif tag == "tr":
            self._cell = 0
        elif tag == "td":
            self._cell += 1
            if self._in_body and self._cell == 1:
                self._text = []

    def handle_endtag(self, tag: str) -> None:
        if self._check is None:
            return
        if tag == "td" and self._text is not None:
            self.tables[self._check].append("".join(self._text).strip())
            self._text = None
        elif tag == "tbody":
            self._in_body = False
        elif tag == "div":
            self._depth -= 1
            if self._depth == 0:
                self._check = None

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)


def test_every_registered_check_has_its_generated_parameter_table(site: Path) -> None:
    parser = _ParamTables()
    parser.feed((site / "checks" / "index.html").read_text())
    assert set(parser.tables) == set(REGISTRY)
    for name, check in REGISTRY.items():
        assert parser.tables[name] == list(check.params.model_fields), f"{name}: table rows differ from its model"


# --- every `gatedrill ...` command shown exists ---------------------------------------------------------------------

FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
INLINE = re.compile(r"`([^`\n]+)`")
LONG_OPTION = re.compile(r"^--[a-z][a-z0-9-]*(?==|$)")
PLACEHOLDER = re.compile(r"^(\.\.\.|[A-Z][A-Z_]*|<.*>)$")


def code_texts(markdown: str) -> list[str]:
    """Every fenced block and inline code span of a markdown text."""
    blocks = FENCE.findall(markdown)
    prose = FENCE.sub("", markdown)
    return blocks + INLINE.findall(prose)


def invocations(code: str) -> list[list[str]]:
    """The arguments after each `gatedrill` (or `python -m gatedrill`) word in shell-like code; not `pip install`."""
    found = []
    for line in code.splitlines():
        for segment in re.split(r"&&|\|\||[;|()]|\$\(", line):
            try:
                words = shlex.split(segment, comments=True)
            except ValueError:
                words = segment.split()
            for i, word in enumerate(words):
                if word == "gatedrill" and (i == 0 or words[i - 1] not in ("install", "-e")):
                    found.append([w.strip("[]") for w in words[i + 1:]])
    return found


def problems_with(args: list[str]) -> list[str]:
    """What in one invocation does not exist in the CLI: a command, a subcommand, a long option or a drill name."""
    command: click.Command = main
    path = ["gatedrill"]
    rest = list(args)
    while isinstance(command, click.Group):
        while rest and rest[0].startswith("-"):
            option = rest.pop(0)
            if LONG_OPTION.match(option) and option not in _options(command):
                return [f"{' '.join(path)} has no option {option}"]
        if not rest or PLACEHOLDER.match(rest[0]):
            return []
        name = rest.pop(0)
        if name not in command.commands:
            return [f"{' '.join(path)} has no command {name!r}"]
        command = command.commands[name]
        path.append(name)
    problems = [f"{' '.join(path)} has no option {m.group(0)}" for word in rest
                if (m := LONG_OPTION.match(word)) and m.group(0) not in _options(command)]
    if path[1:] in (["run"], ["scenarios", "show"]) and rest and not rest[0].startswith("-"):
        drill = rest[0]
        if "/" not in drill and not drill.endswith((".yaml", ".yml")) and not PLACEHOLDER.match(drill) \
                and drill not in builtin_names():
            problems.append(f"{' '.join(path)}: no built-in drill {drill!r}")
    return problems


def _options(command: click.Command) -> set[str]:
    ctx = click.Context(command)
    return {opt for param in command.get_params(ctx) for opt in (*param.opts, *param.secondary_opts)}


def documented_invocations() -> list[tuple[str, list[str]]]:
    files = [README, *sorted((ROOT / "docs").glob("*.md"))]
    return [(f.name, args) for f in files for code in code_texts(f.read_text()) for args in invocations(code)]


def test_every_gatedrill_command_shown_exists() -> None:
    shown = documented_invocations()
    named = {" ".join(a[:2]) if a[:1] in (["scenarios"], ["fake"]) else " ".join(a[:1]) for _, a in shown}
    assert {"run", "check", "report", "init", "contract", "scenarios validate", "fake serve"} <= named, named
    problems = [f"{where}: gatedrill {' '.join(args)}: {p}" for where, args in shown for p in problems_with(args)]
    assert not problems, "\n".join(problems)


def test_the_command_checker_catches_what_does_not_exist() -> None:
    assert problems_with(["runn", "canary-split"])
    assert problems_with(["scenarios", "lst"])
    assert problems_with(["run", "canary-split", "--scal", "0.5"])
    assert problems_with(["run", "no-such-drill"])
    assert not problems_with(["run", "canary-split", "--scale", "0.6", "--set", "canary_split.alpha=0.01"])
