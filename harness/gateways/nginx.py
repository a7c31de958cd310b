"""The nginx adapter: writes the nginx.conf that `nginx_conf` renders for the scenario into the run's logs folder
and runs nginx in the foreground on 127.0.0.1 (`daemon off;`, its pid, temp files and access log under the run).

A timeline set_weights rewrites the upstream block's weights and reloads nginx gracefully (SIGHUP to the master:
new workers take new connections, old ones finish what they serve); it counts as applied once a new worker
answers the config's generation (nginx_conf.GENERATION_PATH).

Needs the nginx binary and its njs module (Debian: `apt-get install -y nginx libnginx-mod-http-js`).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from gatedrill.fakes.errors import ConfigError

from ..timeline import WeightsApplied
from .base import Limitation, RunningGateway, free_port, wait_ready
from .nginx_conf import BODY_JS, GENERATION_PATH, NginxPlan, plan, render, reweighted

if TYPE_CHECKING:
    from ..intent import UpstreamEndpoint
    from ..processes import Processes
    from ..scenario import Scenario

LOG = "nginx.log"
RELOAD_TIMEOUT_S = 10.0
JS_MODULE_PATHS = ("/usr/lib/nginx/modules/ngx_http_js_module.so", "/usr/share/nginx/modules/ngx_http_js_module.so",
                   "/etc/nginx/modules/ngx_http_js_module.so")


def find_js_module(explicit: str | None = None) -> str:
    """The njs dynamic module's path (it rewrites the body's model), or a ConfigError saying how to install it."""
    for path in ([explicit] if explicit else JS_MODULE_PATHS):
        if os.path.exists(path):
            return path
    raise ConfigError("the nginx gateway needs the njs module (ngx_http_js_module.so): "
                      "apt-get install -y libnginx-mod-http-js, or set gateway.nginx.js_module")


def write_prefix(prefix: Path, conf: str) -> Path:
    """A ready nginx prefix folder: nginx.conf, the njs script and the temp folder; returns the conf's path."""
    (prefix / "tmp").mkdir(parents=True, exist_ok=True)
    (prefix / "gatedrill.js").write_text(BODY_JS)
    path = prefix / "nginx.conf"
    path.write_text(conf)
    return path


class NginxAdapter:
    name = "nginx"

    def limitations(self, scenario: Scenario) -> list[Limitation]:
        return plan(scenario).limitations

    def start(self, procs: Processes, scenario: Scenario, endpoints: list[UpstreamEndpoint],
              workdir: Path) -> RunningGateway:
        opts = scenario.gateway.nginx
        executable = shutil.which(opts.executable if opts else "nginx") or shutil.which(
            "nginx", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"]))
        if executable is None:
            raise ConfigError("the nginx gateway needs nginx on PATH (Debian: apt-get install -y nginx)")
        js_module = find_js_module(opts.js_module if opts else None)
        p = plan(scenario)
        keys = {e.name: e.api_key for e in endpoints}
        p.api_key = keys.get(p.targets[0].upstream, p.api_key)
        prefix = (workdir / "nginx").resolve()
        port = free_port()
        urls = {e.name: e.base_url for e in endpoints}
        conf = write_prefix(prefix, render(p, urls, f"127.0.0.1:{port}", str(prefix), js_module))
        proc = procs.start([executable, "-p", str(prefix), "-c", str(conf)], LOG)
        url = f"http://127.0.0.1:{port}"
        wait_ready(f"{url}/healthz", proc, opts.start_timeout_s if opts else 15.0, "nginx", workdir / LOG)
        reload = NginxReload(p, lambda q: render(q, urls, f"127.0.0.1:{port}", str(prefix), js_module), conf, url,
                             signal=lambda: hangup(proc))
        return RunningGateway(url=url, proc=proc, log=LOG, weights=reload)


def hangup(proc: subprocess.Popen[bytes]) -> str | None:
    """SIGHUP to the nginx master (a graceful reload); what went wrong, or None."""
    if proc.poll() is not None:
        return f"nginx is not running (exit code {proc.returncode})"
    proc.send_signal(signal.SIGHUP)
    return None


class NginxReload:
    """Changes the weights of a running nginx: rewrite nginx.conf, reload it (`signal`: SIGHUP to the master, or a
    reload command in a container; returns what went wrong or None), wait for the new generation to answer. A
    config nginx refuses leaves the old one serving (nginx keeps it), which shows here as a timeout."""

    def __init__(self, p: NginxPlan, render_conf: Callable[[NginxPlan], str], conf: Path, url: str,
                 signal: Callable[[], str | None], mechanism: str = "nginx reload (SIGHUP)") -> None:
        self.plan, self.render, self.conf, self.url, self.signal = p, render_conf, conf, url, signal
        self.mechanism = mechanism

    def set_weights(self, update: dict[str, float], weights: dict[str, float]) -> WeightsApplied:
        try:
            new = reweighted(self.plan, weights, self.plan.generation + 1)
        except ConfigError as exc:
            return WeightsApplied(0, str(exc))
        tmp = self.conf.with_suffix(".tmp")
        tmp.write_text(self.render(new))
        tmp.replace(self.conf)
        failed = self.signal()
        if failed is not None:
            return WeightsApplied(0, failed)
        deadline = time.monotonic() + RELOAD_TIMEOUT_S
        seen = "no answer"
        while time.monotonic() < deadline:
            try:
                r = httpx.get(self.url + GENERATION_PATH, timeout=2.0)
                seen = r.text.strip()
                if seen == str(new.generation):
                    self.plan = new
                    return WeightsApplied(200, f"reloaded: generation {new.generation}, weights " + ", ".join(
                        f"{h.upstream}={h.weight:g}" for h in new.targets))
            except httpx.HTTPError as exc:
                seen = type(exc).__name__
            time.sleep(0.02)
        return WeightsApplied(0, f"nginx did not serve the new config within {RELOAD_TIMEOUT_S:g} s (generation "
                                 f"{seen}, want {new.generation}); see its log for the reason")
