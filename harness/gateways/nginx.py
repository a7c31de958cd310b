"""The nginx adapter: writes the nginx.conf that `nginx_conf` renders for the scenario into the run's logs folder
and runs nginx in the foreground on 127.0.0.1 (`daemon off;`, its pid, temp files and access log under the run).

Needs the nginx binary and its njs module (Debian: `apt-get install -y nginx libnginx-mod-http-js`).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from gatedrill.fakes.errors import ConfigError

from .base import Limitation, RunningGateway, free_port, wait_ready
from .nginx_conf import BODY_JS, plan, render

if TYPE_CHECKING:
    from ..intent import UpstreamEndpoint
    from ..processes import Processes
    from ..scenario import Scenario

LOG = "nginx.log"
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
        conf = write_prefix(prefix, render(p, {e.name: e.base_url for e in endpoints}, f"127.0.0.1:{port}",
                                           str(prefix), js_module))
        proc = procs.start([executable, "-p", str(prefix), "-c", str(conf)], LOG)
        url = f"http://127.0.0.1:{port}"
        wait_ready(f"{url}/healthz", proc, opts.start_timeout_s if opts else 15.0, "nginx", workdir / LOG)
        return RunningGateway(url=url, proc=proc, log=LOG)
