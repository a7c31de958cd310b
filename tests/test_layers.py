"""The package tree has no import circle and no arrow from a lower layer to a higher one.

Every `import` and `from ... import` naming gatedrill (at module level, inside functions and under TYPE_CHECKING
alike) is read with `ast`; importing a submodule also runs its packages' `__init__`, so those count as arrows too.
The layers, lowest first (a module may import its own layer and those below):

    gatedrill (the version, the exit codes, deferred signals) < fakes < scenarios
    < harness foundations: sse, seeds, yaml_lines, processes, intent, check_params, load, change_point, weights_hook,
      sweep_defaults
    < scenario, schema_export, project_config, scaffold < record, host, saturation
    < checks, timeline, weight_effect, plan
    < report, compare < gateways, reference, fake_fleet, standing_gateway, control_arm, findings, scorecard < runner
    < settings, drill, session_runs, sweep, gameday
    < harness's entry points: harness.cli, pytest_plugin, pytest_items
    < contracts < gatedrill.cli, gatedrill.__main__, gatedrill.entry
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = {"fakes": "gatedrill.fakes", "harness": "gatedrill.harness", "contracts": "gatedrill.contracts",
           "scenarios": "gatedrill.scenarios"}
LAYERS: list[set[str]] = [
    {"gatedrill", "gatedrill.exit_codes", "gatedrill.deferred_signals"},
    {"gatedrill.fakes"},
    {"gatedrill.scenarios"},
    {"gatedrill.harness", "harness.sse", "harness.seeds", "harness.yaml_lines", "harness.processes",
     "harness.intent", "harness.check_params", "harness.load", "harness.child_reaper", "harness.stale_runs",
     "harness.mutation", "harness.change_point", "harness.weights_hook", "harness.fake_workers",
     "harness.sweep_defaults"},
    {"harness.scenario", "harness.schema_export", "harness.project_config", "harness.scaffold",
     "harness.routing_brief"},
    {"harness.record", "harness.host", "harness.saturation"},
    {"harness.checks", "harness.timeline", "harness.plan", "harness.weight_effect"},
    {"harness.report", "harness.compare"},
    {"harness.gateways", "harness.reference", "harness.fake_fleet", "harness.standing_gateway", "harness.control_arm",
     "harness.findings", "harness.scorecard", "harness.adopted_fakes"},
    {"harness.runner"},
    {"harness.settings", "harness.drill", "harness.session_runs", "harness.sweep", "harness.gameday"},
    {"harness.cli", "harness.pytest_plugin", "harness.pytest_items"},
    {"gatedrill.contracts"},
    {"gatedrill.cli", "gatedrill.__main__", "gatedrill.entry"},
]


def modules() -> dict[str, Path]:
    out = {}
    for folder, package in FOLDERS.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join([package, *parts])] = path
    for path in (ROOT / "gatedrill").glob("*.py"):
        out["gatedrill" if path.stem == "__init__" else f"gatedrill.{path.stem}"] = path
    return out


MODULES = modules()


def imports(name: str, path: Path) -> set[str]:
    """The gatedrill modules `name` imports, with the packages whose `__init__` that runs (its own excluded)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("gatedrill")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                base = base[: len(base) - node.level + 1] + ([node.module] if node.module else [])
                module = ".".join(base)
            else:
                module = node.module or ""
            if module.startswith("gatedrill"):
                found |= {f"{module}.{a.name}" if f"{module}.{a.name}" in MODULES else module for a in node.names}
    unknown = found - set(MODULES)
    assert not unknown, f"{name} imports modules that do not exist: {unknown}"
    own = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 2)}
    for target in list(found):
        parts = target.split(".")
        found |= {".".join(parts[:i]) for i in range(1, len(parts)) if ".".join(parts[:i]) not in own}
    return found & set(MODULES)


GRAPH = {name: imports(name, path) for name, path in MODULES.items()}


def layer_of(module: str) -> int:
    parts = module.split(".")
    unit = f"harness.{parts[2]}" if parts[:2] == ["gatedrill", "harness"] and len(parts) > 2 else ".".join(parts[:2])
    for i, layer in enumerate(LAYERS):
        if unit in layer:
            return i
    raise AssertionError(f"{module} is in no layer: add {unit} to LAYERS in tests/test_layers.py")


def circles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    return out


def test_the_import_graph_is_read_from_every_module() -> None:
    assert {"gatedrill.harness.cli", "gatedrill.cli", "gatedrill.contracts.cli", "gatedrill.harness.record"} \
        <= set(MODULES)
    assert "gatedrill.harness.record" in GRAPH["gatedrill.harness.checks.registry"]
    assert "gatedrill.harness.load" in GRAPH["gatedrill.harness.record.clients"]  # a package's __init__ runs too


def test_no_module_imports_a_higher_layer() -> None:
    upward = [f"{a} -> {b}" for a, targets in sorted(GRAPH.items()) for b in sorted(targets)
              if layer_of(b) > layer_of(a)]
    assert not upward, "imports that run back up:\n" + "\n".join(upward)


def test_no_import_circle_anywhere() -> None:
    found = circles()
    assert not found, f"import circles: {found}"


def test_harness_and_contracts_meet_only_in_one_direction() -> None:
    harness_to_contracts = [f"{a} -> {b}" for a, targets in GRAPH.items() if a.startswith("gatedrill.harness")
                            for b in targets if b.startswith("gatedrill.contracts")]
    assert not harness_to_contracts
