"""MkDocs hook: fills each `<!-- cli-options: COMMAND -->` with that command's usage and options, read from click.

The CLI reference cannot drift from `gatedrill --help`: usage lines and option help come from the click command
objects at build time. A page that holds one placeholder must hold one for every command (groups included), and a
placeholder must name a real command: either mistake fails the build.
"""

from __future__ import annotations

import html
import inspect
import re
import sys
from pathlib import Path
from typing import Any

import click
from mkdocs.exceptions import PluginError

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"<!-- cli-options: ([a-z][a-z -]*?) -->")


def _main() -> click.Group:
    """The `gatedrill` click group of this checkout (its root goes first on sys.path)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from gatedrill.cli import main

    return main


def all_commands(group: click.Group, prefix: str = "") -> dict[str, click.Command]:
    """'run' -> command, 'scenarios validate' -> command, ... for every command and group under `group`."""
    found: dict[str, click.Command] = {}
    for name, cmd in group.commands.items():
        path = f"{prefix}{name}"
        found[path] = cmd
        if isinstance(cmd, click.Group):
            found.update(all_commands(cmd, f"{path} "))
    return found


def _cell(text: str) -> str:
    """click help as one line of HTML-safe text (it may hold `<TAB>`), backtick spans as <code>, pipes escaped."""
    parts = html.escape(" ".join(text.split()), quote=False).split("`")
    for i in range(1, len(parts) - 1, 2):
        parts[i] = f"<code>{parts[i]}</code>"
    return "".join(parts).replace("|", "\\|")


def options_block(path: str, cmd: click.Command, main: click.Group) -> str:
    """The usage line and a table of the command's arguments and options (or its subcommands, for a group)."""
    ctx = click.Context(cmd, info_name=f"gatedrill {path}", parent=click.Context(main, info_name="gatedrill"))
    usage = " ".join(cmd.collect_usage_pieces(ctx))
    lines = [f'<div class="cli-options" id="cli-{path.replace(" ", "-")}" markdown="1">', "",
             "```text", f"gatedrill {path} {usage}".rstrip(), "```", "", _cell(cmd.get_short_help_str(300)), ""]
    if isinstance(cmd, click.Group):
        lines += ["| command | what |", "|---|---|"]
        lines += [f"| `{path} {name}` | {_cell(sub.get_short_help_str(200))} |" for name, sub in cmd.commands.items()]
    rows = []
    for param in cmd.params:
        record = param.get_help_record(ctx)
        if isinstance(param, click.Argument):
            rows.append(f"| `{_metavar(param, ctx)}` | argument{'' if param.required else ' (optional)'} |")
        elif record is not None:
            rows.append(f"| `{record[0]}` | {_cell(record[1])} |")
    if rows:
        lines += ["", "| option | what |", "|---|---|", *rows]
    return "\n".join([*lines, "", "</div>"])


def _metavar(param: click.Parameter, ctx: click.Context) -> str:
    """click 8.2 and later take the context in make_metavar; 8.1 does not."""
    if "ctx" in inspect.signature(param.make_metavar).parameters:
        return param.make_metavar(ctx)
    return param.make_metavar()  # type: ignore[call-arg]


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    paths = PLACEHOLDER.findall(markdown)
    if not paths:
        return markdown
    main = _main()
    commands = all_commands(main)
    unknown = sorted(set(paths) - set(commands))
    if unknown:
        raise PluginError(f"{page.file.src_uri}: cli-options placeholder for unknown command(s) {', '.join(unknown)}")
    missing = sorted(set(commands) - set(paths))
    if missing:
        raise PluginError(f"{page.file.src_uri}: no <!-- cli-options: COMMAND --> for command(s) "
                          f"{', '.join(missing)}; document each")
    return PLACEHOLDER.sub(lambda m: options_block(m.group(1), commands[m.group(1)], main), markdown)
