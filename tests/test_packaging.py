"""The package as users install it: one `gatedrill` import name, a version, light start-up, extras named in one line,
and a wheel that carries every module and data file of the four top-level folders."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from importlib.metadata import version
from pathlib import Path

import gatedrill

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("harness", "fakes", "contracts", "scenarios")


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd="/")


def test_the_version_has_one_source_and_both_entry_points_print_it() -> None:
    assert version("gatedrill") == gatedrill.__version__
    for argv in (["-m", "gatedrill", "--version"], ["-m", "gatedrill", "version"]):
        out = subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0 and gatedrill.__version__ in out.stdout, out


def test_help_and_the_fakes_start_without_loading_scipy_or_numpy() -> None:
    code = ("import sys\nfrom gatedrill.cli import main\nimport gatedrill.fakes.server\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('scipy', 'numpy'))\n"
            "print('HEAVY', heavy)")
    out = _python(code)
    assert out.returncode == 0, out.stderr
    assert "HEAVY []" in out.stdout, out.stdout[-500:]


def test_a_missing_extra_is_one_line_that_names_it() -> None:
    code = ("import sys\nsys.modules['schemathesis'] = None  # as if gatedrill[contracts] were not installed\n"
            "from gatedrill.cli import main\nmain(['contract'], prog_name='gatedrill')")
    out = _python(code)
    assert out.returncode == 2, out
    assert out.stderr.strip() == ("gatedrill: error: gatedrill contract needs schemathesis: "
                                  "pip install 'gatedrill[contracts]'"), out.stderr


def test_the_wheel_carries_every_module_and_data_file_under_the_gatedrill_name(tmp_path: Path) -> None:
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    src = tmp_path / "src"  # a copy of the tracked files: setuptools' build/ in the checkout may hold stale files
    for name in tracked.decode().split("\0"):
        if (name and (ROOT / name).exists()) or (name and (ROOT / name).is_symlink()):
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, src / name, follow_symlinks=False)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(src)],
                   check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("gatedrill-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert not {n.split("/")[0] for n in names} - {"gatedrill", f"gatedrill-{gatedrill.__version__}.dist-info"}, (
        "the wheel installs only the gatedrill import package")
    wanted = {f"gatedrill/{p.relative_to(src).as_posix()}" for folder in FOLDERS
              for p in (src / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert len(wanted) > 100
    assert wanted - names == set(), "files missing from the wheel"
