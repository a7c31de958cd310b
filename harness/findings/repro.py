"""`gatedrill repro ID`: a finding's minimal reproduction as a folder a vendor can run without gatedrill's drills.

The folder holds the gateway's config, one fake's config, the request body, a README and `run.sh`, which starts the
fake (`gatedrill fake serve`) and the gateway on 127.0.0.1, sends the request with one curl line and stops both on
exit, failure or Ctrl-C. Keys never reach a command line: the gateway's key is an environment variable and curl
reads every header from a file.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import yaml

from gatedrill.fakes.errors import ConfigError

from ..gateways.portkey import LOOPBACK_PRELOAD, install_root
from ..scenario import PortkeyOptions
from .model import Finding

FAKE_PORT, GATEWAY_PORT = 18181, 14000
RUN_SH = "run.sh"
# Portkey's patch to async-retry (github.com/Portkey-AI/gateway, patches/async-retry+1.3.3.patch, MIT licence):
# the repository's `postinstall: patch-package` applies it; the npm package does not ship patches/.
ASYNC_RETRY_PATCH = """\
diff --git a/node_modules/async-retry/lib/index.js b/node_modules/async-retry/lib/index.js
index d8f0c8a..d7a545e 100644
--- a/node_modules/async-retry/lib/index.js
+++ b/node_modules/async-retry/lib/index.js
@@ -39,7 +39,7 @@ function retry(fn, opts) {
       var val;
\x20
       try {
-        val = fn(bail, num);
+        val = fn(bail, num, op);
       } catch (err) {
         onError(err, num);
         return;
"""

_HEAD = """\
#!/usr/bin/env bash
# Reproduction of gatedrill finding {id}: {title}
# {gateway} {version}, installed by: {method}
# Needs: curl, setsid, gatedrill (for the fake upstream: pip install gatedrill), {needs}.
# Run: ./run.sh   (FAKE_PORT and GATEWAY_PORT move the ports from {fake_port} and {gateway_port}){variants}
set -euo pipefail
cd "$(dirname "$0")"
FAKE_PORT="${{FAKE_PORT:-{fake_port}}}"
GATEWAY_PORT="${{GATEWAY_PORT:-{gateway_port}}}"
RUN="$(mktemp -d "${{TMPDIR:-/tmp}}/gatedrill-repro.XXXXXX")"
pids=()
stop() {{  # every process this script started, with its children (SIGKILL after 10 s), then the scratch folder
  for pid in "${{pids[@]}}"; do kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 50); do
    alive=0; for pid in "${{pids[@]}}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break; sleep 0.2
  done
  for pid in "${{pids[@]}}"; do kill -KILL -- "-$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$RUN"
}}
trap stop EXIT
trap 'exit 130' INT TERM
ports() {{ sed -e "s/127\\.0\\.0\\.1:{fake_port}/127.0.0.1:$FAKE_PORT/g" "$1"; }}
wait_for() {{  # URL WHAT LOG
  for _ in $(seq 1 240); do curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null && return 0; sleep 0.25; done
  echo "run.sh: $2 did not answer $1 within 60 s; the end of its log:" >&2; tail -n 20 "$3" >&2; exit 3
}}

# The fake upstream (its journal and faults: http://127.0.0.1:$FAKE_PORT/_gatedrill/)
setsid gatedrill fake serve --config fake.yaml --port "$FAKE_PORT" >"$RUN/fake.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$FAKE_PORT/_gatedrill/health" "the fake" "$RUN/fake.log"
"""

_LITELLM = """
# LiteLLM proxy: the master key comes from the environment (config: os.environ/LITELLM_MASTER_KEY)
export LITELLM_MASTER_KEY="${LITELLM_MASTER_KEY:-sk-repro-$RANDOM$RANDOM}"
export LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_DONT_SHOW_FEEDBACK_BOX=true
if [ -n "${PRISMA_SITE:-}" ]; then export PYTHONPATH="$PRISMA_SITE${PYTHONPATH:+:$PYTHONPATH}"; fi
ports litellm.yaml >"$RUN/litellm.yaml"
setsid litellm --config "$RUN/litellm.yaml" --host 127.0.0.1 --port "$GATEWAY_PORT" --num_workers 1 \\
  >"$RUN/gateway.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$GATEWAY_PORT/health/liveliness" "the LiteLLM proxy" "$RUN/gateway.log"
{auth}"""

_PORTKEY = """
# Portkey gateway (npm build). It has no host option: portkey-loopback.cjs binds it to 127.0.0.1.
PORTKEY_DIR="${{PORTKEY_DIR:-{portkey_dir}}}"
if [ ! -f "$PORTKEY_DIR/node_modules/@portkey-ai/gateway/build/start-server.js" ]; then
  echo "run.sh: no Portkey gateway in $PORTKEY_DIR; install it (README.md) or set PORTKEY_DIR" >&2; exit 2
fi
if [ -n "${{PORTKEY_PATCHED:-}}" ]; then  # the repository's build: async-retry patched as its postinstall does
  cp -a "$PORTKEY_DIR" "$RUN/portkey" && PORTKEY_DIR="$RUN/portkey"
  patch -s -d "$PORTKEY_DIR" -p1 <async-retry+1.3.3.patch
fi
printf 'x-portkey-config: %s\\n' "$(ports portkey-config.json)" >"$RUN/headers"
GATEDRILL_BIND_HOST=127.0.0.1 NODE_ENV=production setsid node --require ./portkey-loopback.cjs \\
  "$PORTKEY_DIR/node_modules/@portkey-ai/gateway/build/start-server.js" --port="$GATEWAY_PORT" --headless \\
  >"$RUN/gateway.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$GATEWAY_PORT/" "the Portkey gateway" "$RUN/gateway.log"
"""

_HAPROXY = """
# HAProxy: its config with the ports moved (the upstream key is in the config: the fake takes any);
# HAPROXY_RETRY_ON replaces the config's retry-on keywords
ports haproxy.cfg | sed -e "s/127\\.0\\.0\\.1:{gateway_port}/127.0.0.1:$GATEWAY_PORT/g" >"$RUN/haproxy.cfg"
if [ -n "${{HAPROXY_RETRY_ON:-}}" ]; then
  sed -i -e "s/^\\( *retry-on\\) .*/\\1 $HAPROXY_RETRY_ON/" "$RUN/haproxy.cfg"
fi
: >"$RUN/headers"  # the client sends no key
HAPROXY="$(command -v haproxy || echo /usr/sbin/haproxy)"  # Debian installs it in /usr/sbin
setsid "$HAPROXY" -db -f "$RUN/haproxy.cfg" >"$RUN/gateway.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$GATEWAY_PORT/stats" "HAProxy" "$RUN/gateway.log"
"""

_CURL = ('curl -sS -i -N --max-time 30 -H @"$RUN/headers" -H "content-type: application/json" --data @request.json '
         '"http://127.0.0.1:$GATEWAY_PORT/v1/chat/completions"')
_METRICS = 'curl -sS --max-time 10 "http://127.0.0.1:$FAKE_PORT/_gatedrill/metrics"'
_STATS = 'curl -sS --max-time 10 "http://127.0.0.1:$GATEWAY_PORT/stats;csv"'


def run_sh(finding: Finding, portkey_dir: str) -> str:
    """The script: start the fake and the gateway, send `before` requests, then the one curl line."""
    needs = {"litellm": "the LiteLLM proxy (pip install 'litellm[proxy]')",
             "portkey": "node and the Portkey gateway's npm package (README.md)",
             "haproxy": "HAProxy (Debian: apt-get install haproxy)"}
    if finding.gateway not in needs:
        raise ConfigError(f"finding {finding.id}: no reproduction for the {finding.gateway} gateway yet")
    variants = "".join(f"\n#   {' '.join(f'{k}={shlex.quote(v)}' for k, v in v.env.items())} ./run.sh: {v.what}"
                       for v in finding.repro.variants)
    out = _HEAD.format(id=finding.id, title=finding.title, gateway=finding.gateway, version=finding.version,
                       method=finding.install.method, needs=needs[finding.gateway], fake_port=FAKE_PORT,
                       gateway_port=GATEWAY_PORT, variants=variants and "\n# Variants:" + variants)
    if finding.gateway == "litellm":
        auth = ("printf 'Authorization: Bearer %s\\n' \"$LITELLM_MASTER_KEY\" >\"$RUN/headers\"\n"
                if finding.repro.auth else ": >\"$RUN/headers\"  # this request carries no key\n")
        out += _LITELLM.replace("{auth}", auth)
    elif finding.gateway == "haproxy":
        out += _HAPROXY.format(gateway_port=GATEWAY_PORT)
    else:
        out += _PORTKEY.format(portkey_dir=portkey_dir)
    if finding.repro.before:
        out += (f"\n# {finding.repro.before} requests first (their answers are not shown)\n"
                f"for _ in $(seq 1 {finding.repro.before}); do {_CURL.replace('-sS -i', '-sS -o /dev/null')}"
                " || true; done\n")
    if finding.repro.pause_s:
        out += f"sleep {finding.repro.pause_s:g}\n"
    if finding.repro.burst:
        quiet = _CURL.replace("-sS -i", "-sS -o /dev/null")
        out += (f"\n# {finding.repro.burst} requests at once (their answers are not shown)\nburst=()\n"
                f"for _ in $(seq 1 {finding.repro.burst}); do {quiet} & burst+=($!); done\n"
                'wait "${burst[@]}" || true\n')
    line = {"fake-metrics": _METRICS, "gateway-stats": _STATS}.get(finding.repro.show, _CURL)
    out += f"\n# The behaviour\necho '+ {line}' >&2\n{line}\n"
    if finding.repro.log:
        out += (f"# ... and its cause, in the gateway's log\necho\n"
                f"grep -E {shlex.quote(finding.repro.log)} \"$RUN/gateway.log\" | head -n 3 | sed 's/^/gateway log: /'"
                " || true\n")
    out += ('if [ -n "${REPRO_KEEP:-}" ]; then  # keep both up to poke at them by hand; Ctrl-C stops them\n'
            '  echo "run.sh: the fake (:$FAKE_PORT) and the gateway (:$GATEWAY_PORT) stay up (REPRO_KEEP); Ctrl-C '
            'stops both" >&2\n  while :; do sleep 1 & wait $!; done\nfi\n')  # `wait` lets the INT trap run at once
    return out


def readme(finding: Finding) -> str:
    """What the folder reproduces, how to run it, and what the curl output shows."""
    r = finding.repro
    lines = [f"# {finding.id}", "", finding.title, "",
             f"- Gateway: {finding.gateway} {finding.version}, installed by: {finding.install.method}"]
    if finding.install.dependencies:
        deps = ", ".join(f"{k} {v}" for k, v in finding.install.dependencies.items())
        lines.append(f"- Relevant dependencies: {deps}")
    lines += [f"- Status: {finding.status.label()}", "", finding.explanation, "", "## Run", "",
              "```bash", "./run.sh", "```", "",
              "It starts the fake upstream (`fake.yaml`, with `gatedrill fake serve`) and the gateway on 127.0.0.1, "
              "then sends the request with one curl line and prints its output; both processes stop when it ends "
              "(`REPRO_KEEP=1 ./run.sh` keeps them up to poke at by hand until Ctrl-C).",
              "", "The output shows the behaviour when it matches every one of these regular expressions:", ""]
    lines += [f"- `{e}`" for e in r.expect] + [f"- and not `{e}`" for e in r.expect_absent]
    if finding.gateway == "portkey":
        lines += ["", "The Portkey gateway comes from npm; install it once and point `PORTKEY_DIR` at the folder:", "",
                  "```bash",
                  'mkdir portkey && cd portkey && npm init -y >/dev/null && npm pkg set '
                  '"overrides[@hono/node-server]=1.14.1"',
                  "npm install @portkey-ai/gateway@1.15.2 @hono/node-server@1.14.1", "```"]
    for v in r.variants:
        env = " ".join(f"{k}={shlex.quote(val)}" for k, val in v.env.items())
        lines += ["", f"## Variant: {v.name}", "", v.what + ":", "", "```bash", f"{env} ./run.sh", "```", "",
                  "Expected: " + ", ".join(f"`{e}`" for e in v.expect)
                  + "".join(f", and not `{e}`" for e in v.expect_absent)]
    return "\n".join(lines) + "\n"


def write_repro(finding: Finding, out: Path, portkey_dir: str | None = None) -> list[Path]:
    """Write the reproduction folder `out` (new or empty); returns the files written."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"{out} exists and is not an empty folder; choose another with -o")
    r = finding.repro
    files: dict[str, str] = {
        "fake.yaml": yaml.safe_dump(r.fake, sort_keys=False),
        "request.json": json.dumps(r.body, indent=2) + "\n",
        "README.md": readme(finding),
    }
    if isinstance(r.gateway_config, str) != (finding.gateway == "haproxy"):
        raise ConfigError(f"finding {finding.id}: repro.gateway_config is HAProxy's config text for haproxy, "
                          "a mapping for the other gateways")
    if finding.gateway == "litellm":
        files["litellm.yaml"] = yaml.safe_dump(r.gateway_config, sort_keys=False)
    elif finding.gateway == "haproxy":
        files["haproxy.cfg"] = str(r.gateway_config)
    elif finding.gateway == "portkey":
        files["portkey-config.json"] = json.dumps(r.gateway_config, separators=(",", ":")) + "\n"
        files["portkey-loopback.cjs"] = LOOPBACK_PRELOAD
        if any("PORTKEY_PATCHED" in v.env for v in r.variants):
            files["async-retry+1.3.3.patch"] = ASYNC_RETRY_PATCH
    files[RUN_SH] = run_sh(finding, portkey_dir or str(install_root(PortkeyOptions())))
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        path = out / name
        path.write_text(text)
        written.append(path)
    (out / RUN_SH).chmod(0o755)
    return written
