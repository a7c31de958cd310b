"""The container adapter: any gateway image (APIPark, Kong, Envoy AI Gateway, a local nginx...) started with
testcontainers on host networking, so it reaches the fakes on 127.0.0.1 and listens on a loopback port itself.

Options live under `gateway.container` (harness.scenario.ContainerOptions): image, command, env, the port, and
which adapter generates the configuration mounted into it (`config: nginx`; `none` when the image brings its own).
The container's life is tied to a child process (`docker_engine follow`) that streams its log into RUN/logs/ and
removes the container when the run ends, however it ends; the runner watches that child for liveness.

A timeline set_weights reaches the container through `gateway.set_weights` (the user's command or HTTP call), or,
with `config: nginx` and `reload_command`, by rewriting the mounted nginx.conf and running the command inside it.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from gatedrill.fakes.errors import ConfigError, require_extra

from ..processes import InfrastructureError
from .base import DEFAULT_API_KEY, Limitation, RunningGateway, free_port, log_hint
from .docker_engine import docker_client, image_present, wait_following
from .weights import HookWeights

if TYPE_CHECKING:
    from ..intent import UpstreamEndpoint
    from ..processes import Processes
    from ..scenario import ContainerOptions, Scenario
    from ..timeline import WeightChanger

LOG = "container.log"
LABEL = "dev.gatedrill.workdir"  # on every container we start: the folder its config and log are in (RUN/logs)
REMOVE_GRACE_S = 30.0  # the follower removes the container on SIGTERM; a busy Docker engine may take seconds


def options(scenario: Scenario) -> ContainerOptions:
    opts = scenario.gateway.container
    if opts is None:
        raise ConfigError("the container gateway needs `gateway.container: {image: ...}` in the scenario "
                          "(the image to run, and optionally command, env, port, config)")
    return opts


class ContainerAdapter:
    name = "container"

    def limitations(self, scenario: Scenario) -> list[Limitation]:
        opts = options(scenario)
        if opts.config == "nginx":
            from .nginx_conf import plan

            return plan(scenario).limitations
        if opts.config == "reference":
            return []
        return [Limitation(feature="routing", checks=[],
                           reason=f"the image {opts.image} brings its own configuration; gatedrill does not "
                                  "translate the routing intent for it, so it must match the scenario by hand")]

    def start(self, procs: Processes, scenario: Scenario, endpoints: list[UpstreamEndpoint],
              workdir: Path) -> RunningGateway:
        opts = options(scenario)
        require_extra("testcontainers", "container", "the container gateway")
        require_extra("docker", "container", "the container gateway")
        client = docker_client()
        if client is None:
            raise InfrastructureError("the container gateway needs a Docker engine, and none answers "
                                      "(start dockerd, or set DOCKER_HOST)")
        if not image_present(client, opts.image):
            if not opts.pull:
                raise ConfigError(f"image {opts.image!r} is not present locally; build or load it, or set "
                                  "gateway.container.pull: true to pull it from its registry")
            client.images.pull(opts.image)
        port = opts.port or free_port()
        config_dir = (workdir / "container").resolve()
        config_dir.mkdir(parents=True, exist_ok=True)
        command = opts.command
        config_file = {"nginx": f"{opts.mount_path}/nginx.conf", "reference": f"{opts.mount_path}/gateway.json",
                       "none": ""}[opts.config]
        nginx_plan = None
        if opts.config == "nginx":
            from .nginx import write_prefix
            from .nginx_conf import plan, render

            nginx_plan = plan(scenario)
            nginx_plan.api_key = {e.name: e.api_key for e in endpoints}.get(nginx_plan.targets[0].upstream,
                                                                            nginx_plan.api_key)
            write_prefix(config_dir, render(nginx_plan, {e.name: e.base_url for e in endpoints}, f"127.0.0.1:{port}",
                                            opts.mount_path, opts.nginx_js_module))
            command = command or ["nginx", "-p", opts.mount_path, "-c", config_file]
        elif opts.config == "reference":
            gw = scenario.gateway
            (config_dir / "gateway.json").write_text(json.dumps({
                "intent": gw.routing.model_dump(mode="json"), "seed": scenario.seed, "host": "127.0.0.1",
                "port": port, "upstreams": [e.model_dump(mode="json") for e in endpoints]}, indent=2))
            command = command or ["python3", "-m", "gatedrill.harness.reference", config_file]
        fill = {"port": str(port), "config_dir": opts.mount_path, "config_file": config_file}
        mounts = {str(config_dir): (opts.mount_path, "rw"), **{h: (c, "ro") for h, c in opts.volumes.items()}}
        container = _start(opts.image, [c.format(**fill) for c in command] if command else None,
                           {k: v.format(**fill) for k, v in opts.env.items()}, mounts, str(workdir.resolve()))
        ready = workdir / "container.following"
        ready.unlink(missing_ok=True)
        try:
            proc = procs.start([sys.executable, "-m", "gatedrill.harness.gateways.docker_engine", "follow",
                                container.id, str(ready)], LOG, grace_s=REMOVE_GRACE_S)
            wait_following(ready, proc)
        except BaseException:
            _remove(container)
            raise
        if not ready.exists():  # the follower died before taking charge: nothing else would remove the container
            _remove(container)
            raise InfrastructureError(f"could not follow the container ({opts.image}){log_hint(workdir / LOG)}")
        url = f"http://127.0.0.1:{port}"
        _wait_answering(url + opts.ready_path, proc, opts.start_timeout_s, workdir / LOG, opts.image)
        weights: WeightChanger | None = None
        if scenario.gateway.set_weights is not None:
            weights = HookWeights(scenario.gateway.set_weights)
        elif opts.reload_command and nginx_plan is not None:
            from .nginx import NginxReload
            from .nginx_conf import render

            urls = {e.name: e.base_url for e in endpoints}
            reload = [c.format(**fill) for c in opts.reload_command]
            weights = NginxReload(nginx_plan, lambda q: render(q, urls, f"127.0.0.1:{port}", opts.mount_path,
                                                               opts.nginx_js_module),
                                  config_dir / "nginx.conf", url, signal=lambda: _exec(container, reload),
                                  mechanism="nginx reload (reload_command in the container)")
        return RunningGateway(url=url, proc=proc, log=LOG, headers=dict(opts.headers),
                              api_key=opts.api_key or DEFAULT_API_KEY, weights=weights)


def _start(image: str, command: list[str] | None, env: dict[str, str], mounts: dict[str, tuple[str, str]],
           workdir: str) -> Any:
    """The container, started by testcontainers on host networking with the config folder mounted (no Ryuk reaper:
    it would need a registry; our `follow` child removes the container instead)."""
    try:
        from testcontainers.core.config import testcontainers_config
        from testcontainers.core.container import DockerContainer
    except ImportError:
        raise ConfigError("the container gateway needs testcontainers: pip install 'gatedrill[container]'") from None

    testcontainers_config.ryuk_disabled = True
    tc = DockerContainer(image).with_kwargs(network_mode="host", labels={LABEL: workdir})
    for host, (path, mode) in mounts.items():
        tc = tc.with_volume_mapping(host, path, mode)
    for key, value in env.items():
        tc = tc.with_env(key, value)
    if command:
        tc = tc.with_command(command)
    try:
        tc.start()
    except Exception as exc:
        wrapped = getattr(tc, "_container", None)
        if wrapped is not None:
            _remove(wrapped)
        raise InfrastructureError(f"the container ({image}) did not start: {type(exc).__name__}: {exc}") from None
    return tc.get_wrapped_container()


def _exec(container: Any, command: list[str]) -> str | None:
    """Run the reload command inside the container; None when it succeeded, else what it said."""
    try:
        code, output = container.exec_run(command)
    except Exception as exc:
        return f"docker exec failed: {type(exc).__name__}: {exc}"
    if code == 0:
        return None
    return f"{command[0]} exit {code}: {(output or b'').decode(errors='replace').strip()[:300]}"


def _remove(container: Any) -> None:
    with contextlib.suppress(Exception):
        container.remove(force=True)


def _wait_answering(url: str, proc: subprocess.Popen[bytes], timeout_s: float, log: Path, image: str) -> None:
    """Poll until the gateway answers HTTP below 500 (its own routes may want auth), or fail with its last words."""
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise InfrastructureError(f"the container ({image}) exited during start-up (exit code {proc.returncode})"
                                      f"{log_hint(log)}")
        try:
            r = httpx.get(url, timeout=2.0)
            if r.status_code < 500:
                return
            last = f"HTTP {r.status_code}"
        except httpx.HTTPError as exc:
            last = type(exc).__name__
        time.sleep(0.25)
    raise InfrastructureError(f"the container ({image}) did not answer {url} within {timeout_s:g} s ({last})"
                              f"{log_hint(log)}")
