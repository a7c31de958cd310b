"""The servers under measurement: the fake (`gatedrill fake serve`) and two references, nginx and aimock.

nginx answers the same bytes from memory (`return 200 '...'`), one worker, no access log: it is the
yardstick for what one core can do on this machine for a request of this size. aimock (`@copilotkit/aimock`,
its `llmock` server, installed once with npm into gatedrill's cache folder) is another LLM mock: one fixture that
answers the same text, journal at its default bound, so the fakes are compared with a peer doing similar work.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml
from procs import SERVER_CORE, Processes, free_port, tree, wait_ready

from gatedrill.harness.gateways.npm import cache_root, npm_install

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
AIMOCK_VERSION = "1.43.0"
AIMOCK_BIN = Path("node_modules/.bin/llmock")


@dataclass
class Target:
    name: str
    url: str  # origin, http://127.0.0.1:PORT
    proc: subprocess.Popen[bytes]

    @property
    def pids(self) -> list[int]:
        return tree(self.proc.pid)


def start_fake(procs: Processes, workdir: Path, name: str, config: dict[str, object] | None = None,
               core: int | str = SERVER_CORE) -> Target:
    """`gatedrill fake serve openai --port P [--config C]`, journal on (the default), pinned to the server core (or
    the cores given, e.g. "0,1")."""
    port = free_port()
    argv = [sys.executable, "-m", "gatedrill", "fake", "serve", "openai", "--port", str(port)]
    gatedrill = shutil.which("gatedrill")
    if gatedrill:
        argv = [gatedrill, "fake", "serve", "openai", "--port", str(port)]
    if config:
        path = workdir / f"{name}.yaml"
        path.write_text(yaml.safe_dump({"provider": "openai", **config}))
        argv += ["--config", str(path)]
    proc = procs.start(argv, core, f"{name}.log")
    url = f"http://127.0.0.1:{port}"
    wait_ready(url + "/_gatedrill/health", proc)
    return Target(name, url, proc)


_PIECE = 1800  # nginx reads a config token into a 4 kB buffer; escaping may double a piece


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


def _return_body(body: bytes) -> str:
    """Directives that answer `body` from memory: one `return`, or `set` pieces joined by it when long."""
    text = body.decode()
    if "$" in text:  # `return` interpolates variables; keep the size, lose the dollar
        text = text.replace("$", "S")
    if len(text) <= _PIECE:
        return f"return 200 {_quote(text)};"
    pieces = [text[i:i + _PIECE] for i in range(0, len(text), _PIECE)]
    sets = " ".join(f"set $body{i} {_quote(p)};" for i, p in enumerate(pieces))
    return sets + ' return 200 "' + "".join(f"${{body{i}}}" for i in range(len(pieces))) + '";'


def start_nginx(procs: Processes, workdir: Path, bodies: dict[str, tuple[str, bytes]]) -> Target:
    """nginx serving each path in `bodies` ({path: (content type, body)}) from memory."""
    port = free_port()
    root = workdir / "nginx"
    root.mkdir(exist_ok=True)
    locations = "\n".join(
        f"        location = {path} {{ default_type {ctype}; {_return_body(body)} }}"
        for path, (ctype, body) in bodies.items()
    )
    conf = f"""daemon off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    server {{
        listen 127.0.0.1:{port};
        location = /ready {{ return 200 'ok'; }}
{locations}
    }}
}}
"""
    (root / "nginx.conf").write_text(conf)
    proc = procs.start([NGINX, "-p", str(root), "-c", str(root / "nginx.conf")], SERVER_CORE, "nginx.log")
    url = f"http://127.0.0.1:{port}"
    wait_ready(url + "/ready", proc)
    return Target("nginx", url, proc)


def aimock_available() -> bool:
    return shutil.which("node") is not None and shutil.which("npm") is not None


def start_aimock(procs: Processes, workdir: Path, user_text: str, reply_text: str, chunks: int) -> Target:
    """aimock's `llmock -f DIR` with one fixture: `reply_text` for the user message `user_text`, streamed in
    about `chunks` content chunks (its chunk size is in characters), no latency, logging off."""
    pkg = {"name": "gatedrill-bench-aimock", "version": "0.0.0", "private": True,
           "dependencies": {"@copilotkit/aimock": AIMOCK_VERSION}}
    what = f"@copilotkit/aimock {AIMOCK_VERSION}"
    root = npm_install(cache_root() / f"aimock-{AIMOCK_VERSION}", pkg, AIMOCK_BIN, what)
    fixtures = workdir / "aimock-fixtures"
    fixtures.mkdir(exist_ok=True)
    fixture = {"fixtures": [{"match": {"userMessage": user_text}, "response": {"content": reply_text}}]}
    (fixtures / "bench.json").write_text(json.dumps(fixture))
    port = free_port()
    chunk_chars = max(1, math.ceil(len(reply_text) / chunks))
    argv = [str(root / AIMOCK_BIN), "-p", str(port), "-h", "127.0.0.1", "-f", str(fixtures),
            "-c", str(chunk_chars), "--log-level", "silent"]
    proc = procs.start(argv, SERVER_CORE, f"aimock-{port}.log")
    url = f"http://127.0.0.1:{port}"
    wait_ready(url + "/health", proc)
    return Target("aimock", url, proc)
