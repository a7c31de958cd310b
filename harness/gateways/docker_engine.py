"""The Docker engine the container gateway runs in: reach it (or start a local dockerd where none answers), build a
small local nginx image without any registry, and tie a container's life to a child process (`follow`), so the
harness's process handling stops and removes the container on success, failure, Ctrl-C and parent death.

`python -m gatedrill.harness.gateways.docker_engine follow CONTAINER_ID READY_FILE` streams the container's log to
stdout and removes the container when it is signalled, when its parent process goes away, or when the container exits.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from gatedrill.fakes.errors import GatedrillError

NGINX_IMAGE = "gatedrill/nginx-local:1"  # built by `import_nginx_image` from the host's own nginx
_DOCKERD_ARGS = ["--storage-driver=vfs", "--iptables=false", "--bridge=none"]


class EngineUnavailable(GatedrillError):
    """No Docker engine answers, and none can be started here."""


def docker_client(timeout: float = 10.0) -> Any | None:
    """A docker-py client whose engine answers a ping, or None."""
    try:
        import docker
    except ImportError:
        return None
    try:
        client = docker.from_env(timeout=int(timeout))
        client.ping()
        return client
    except Exception:  # any failure means "no engine here"
        return None


_LOCKS = Path(tempfile.gettempdir()) / "gatedrill-docker"  # who starts dockerd, and who is still using it


@dataclass
class Engine:
    """An engine we use. Every user holds a shared lock while it does, so the one that started dockerd stops it
    only after the last user (another test process, say) is done."""

    client: Any
    proc: subprocess.Popen[bytes] | None = None  # the dockerd we started, if we did
    users: IO[bytes] | None = None  # our shared lock on the users file

    @property
    def started_here(self) -> bool:
        return self.proc is not None

    def stop(self, wait_users_s: float = 300.0) -> None:
        """Let go of the engine; stop the dockerd we started once nobody else uses it (a running engine that was
        there before us is left alone)."""
        with contextlib.suppress(Exception):
            self.client.close()
        if self.users is not None:
            fcntl.flock(self.users, fcntl.LOCK_UN)
        if self.proc is not None and self.proc.poll() is None:
            if self.users is not None:
                deadline = time.monotonic() + wait_users_s
                while time.monotonic() < deadline:
                    try:
                        fcntl.flock(self.users, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        time.sleep(0.5)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.users is not None:
            self.users.close()
            self.users = None


def ensure_engine(log: Path, timeout_s: float = 60.0) -> Engine:
    """The running engine, or a dockerd started now (root only; vfs storage, host networking only, no iptables).
    Starts are serialised across processes; call `stop()` on the result when done."""
    _LOCKS.mkdir(exist_ok=True)
    with open(_LOCKS / "start.lock", "wb") as start_lock:
        fcntl.flock(start_lock, fcntl.LOCK_EX)
        users = open(_LOCKS / "users.lock", "wb")  # noqa: SIM115 - held for the Engine's lifetime
        fcntl.flock(users, fcntl.LOCK_SH)  # waits while a stopping owner takes the engine down
        try:
            return _engine(log, timeout_s, users)
        except BaseException:
            users.close()
            raise


def _engine(log: Path, timeout_s: float, users: IO[bytes]) -> Engine:
    client = docker_client()
    if client is not None:
        return Engine(client, users=users)
    dockerd = shutil.which("dockerd") or shutil.which("dockerd", path="/usr/sbin:/usr/bin")
    if dockerd is None:
        raise EngineUnavailable("no Docker engine answers and dockerd is not installed (apt-get install -y docker.io)")
    if os.geteuid() != 0:
        raise EngineUnavailable("no Docker engine answers and starting dockerd needs root")
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen([dockerd, *_DOCKERD_ARGS], stdout=out, stderr=out, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise EngineUnavailable(f"dockerd exited during start-up (exit code {proc.returncode}); see {log}")
        client = docker_client(timeout=5)
        if client is not None:
            return Engine(client, proc, users)
        time.sleep(0.5)
    Engine(None, proc).stop()
    raise EngineUnavailable(f"dockerd did not answer within {timeout_s:g} s; see {log}")


def image_present(client: Any, image: str) -> bool:
    import docker.errors

    try:
        client.images.get(image)
        return True
    except docker.errors.ImageNotFound:
        return False


def _libraries(binary: str) -> list[str]:
    """The shared libraries `binary` loads (ldd), the dynamic loader included."""
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    libs = []
    for line in out.splitlines():
        parts = line.split()
        path = parts[2] if "=>" in parts and len(parts) > 2 else parts[0]
        if path.startswith("/"):
            libs.append(path)
    return libs


def import_nginx_image(client: Any, tag: str = NGINX_IMAGE) -> str:
    """A minimal image holding this host's nginx and njs module (with their libraries), made with `docker import`
    of a small root file system: no registry needed. Cached by tag."""
    if image_present(client, tag):
        return tag
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    from .nginx import find_js_module

    if nginx is None:
        raise EngineUnavailable("building the local nginx image needs nginx on this host (apt-get install -y nginx)")
    module = find_js_module()
    files = {nginx, module, *_libraries(nginx), *_libraries(module)}
    repo, _, version = tag.rpartition(":")
    with tempfile.TemporaryDirectory() as tmp:
        rootfs = Path(tmp) / "rootfs.tar"
        with tarfile.open(rootfs, "w") as tar:
            for path in sorted(files):
                tar.add(os.path.realpath(path), arcname=path.lstrip("/"))
            for name, text in (("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n"),
                               ("etc/group", "root:x:0:\nnogroup:x:65534:\n")):
                data = text.encode()
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mode = 0o644
                tar.addfile(info, _bytes(data))
            for d in ("tmp", "usr/sbin"):
                info = tarfile.TarInfo(d)
                info.type = tarfile.DIRTYPE
                info.mode = 0o1777 if d == "tmp" else 0o755
                tar.addfile(info)
        client.api.import_image_from_file(str(rootfs), repository=repo, tag=version,
                                          changes=['CMD ["/usr/sbin/nginx", "-v"]'])
    return tag


def _bytes(data: bytes) -> Any:
    import io

    return io.BytesIO(data)


def follow(container_id: str, ready_file: str) -> int:
    """Stream the container's log until it exits; remove it on the way out, however that comes. Signals are
    caught before anything else, and `ready_file` is created once they are, so a stop can never skip the removal."""

    stops = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)

    def _raise(signum: int, _frame: object) -> None:
        for sig in stops:  # from here on the finally block removes the container; nothing may interrupt it
            signal.signal(sig, signal.SIG_IGN)
        raise SystemExit(128 + signum)

    for sig in stops:
        signal.signal(sig, _raise)
    parent = os.getppid()
    container = None
    try:
        import docker

        container = docker.from_env().containers.get(container_id)
        Path(ready_file).touch()

        def _watch_parent() -> None:
            while os.getppid() == parent:
                time.sleep(0.5)
            os.kill(os.getpid(), signal.SIGTERM)

        threading.Thread(target=_watch_parent, daemon=True).start()
        for chunk in container.logs(stream=True, follow=True):
            sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
        return int(container.wait(timeout=10).get("StatusCode", 1))
    finally:
        for sig in stops:  # on the normal way out too: a stop comes as up to three signals at once (parent death,
            signal.signal(sig, signal.SIG_IGN)  # the reaper, the parent watch), and none may cut the removal short
        if container is not None:
            with contextlib.suppress(Exception):
                container.remove(force=True)


def wait_following(ready_file: Path, proc: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    """Wait until the `follow` child is in charge of the container (or has died)."""
    deadline = time.monotonic() + timeout_s
    while not ready_file.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "follow":
        sys.exit("usage: python -m gatedrill.harness.gateways.docker_engine follow CONTAINER_ID READY_FILE")
    sys.exit(follow(sys.argv[2], sys.argv[3]))
