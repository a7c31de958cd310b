"""The README's quickstart works as written: every command in its marked block runs, in order, in a fresh folder.

Commands that drill "your gateway" (url:http://127.0.0.1:4000) get a stand-in: the reference gateway configured
with the scaffold scenario's routing, in front of the fixed ports where the drill starts its fakes, so the drill
judges a gateway that really routes to them. Its URL replaces the README's.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from gatedrill.harness.scaffold import SCENARIO_YAML
from gatedrill.harness.scenario import load_scenario
from gatedrill.harness.standing_gateway import standing_gateway

README = Path(__file__).resolve().parent.parent / "README.md"
YOUR_GATEWAY = "http://127.0.0.1:4000"
BLOCK = re.compile(r"<!-- quickstart:begin.*?-->(.*?)<!-- quickstart:end -->", re.S)
FENCE = re.compile(r"```bash\n(.*?)```", re.S)


def quickstart_commands() -> list[str]:
    match = BLOCK.search(README.read_text())
    assert match, "README.md has no <!-- quickstart:begin --> ... <!-- quickstart:end --> block"
    lines = [ln.strip() for fence in FENCE.findall(match.group(1)) for ln in fence.splitlines()]
    return [ln for ln in lines if ln and not ln.startswith("#")]


def test_the_quickstart_shows_the_promised_steps() -> None:
    commands = quickstart_commands()
    assert [c.split()[:2] for c in commands] == [
        ["gatedrill", "run"], ["gatedrill", "init"], ["gatedrill", "scenarios"], ["gatedrill", "run"],
        ["pytest", "scenarios/"]]
    assert sum(YOUR_GATEWAY in c for c in commands) == 2


def test_every_quickstart_command_runs(tmp_path: Path) -> None:
    scenario_file = tmp_path / "scaffold.yaml"
    scenario_file.write_text(SCENARIO_YAML)
    bindir = str(Path(sys.executable).parent)  # the gatedrill and pytest of this environment, as a user's shell
    env = {**os.environ, "CI": "true", "PATH": bindir + os.pathsep + os.environ.get("PATH", "")}
    work = tmp_path / "repo"
    work.mkdir()
    with standing_gateway(load_scenario(scenario_file), tmp_path / "stand-in", start_fakes=False) as gateway:
        for command in quickstart_commands():
            argv = shlex.split(command.replace(YOUR_GATEWAY, gateway.url), comments=True)
            proc = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=150)
            assert proc.returncode == 0, f"`{command}` exited {proc.returncode}:\n{proc.stdout[-3000:]}\n" \
                                         f"{proc.stderr[-3000:]}"
            if command.startswith("pytest"):
                assert "4 passed" in proc.stdout, proc.stdout[-2000:]
    assert (work / "gatedrill.yaml").exists() and (work / "scenarios" / "my-gateway-canary.yaml").exists()
    runs = sorted(p.name for p in (work / "runs").iterdir() if p.is_dir())
    assert len(runs) == 3 and runs[0].startswith("canary-rollback-"), runs  # built-in, run, pytest's run
