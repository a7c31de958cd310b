"""`gatedrill repro ID`: a finding's minimal reproduction as a folder a vendor can run without gatedrill's drills.

The folder holds the gateway's config, one fake's config, the request body, a README and `run.sh`, which starts the
fake (`gatedrill fake serve`) and the gateway on 127.0.0.1, sends the request with one curl line (reloading the
gateway gracefully during it, where the finding asks) and stops both on exit, failure or Ctrl-C. Keys never reach a
command line: the gateway's key is an environment variable and curl reads every header from a file.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import yaml
from pydantic import ValidationError

from gatedrill.fakes.config import format_validation_error
from gatedrill.fakes.errors import ConfigError

from ..gateways.nginx_conf import BODY_JS, plan, render
from ..gateways.portkey import LOOPBACK_PRELOAD, install_root
from ..scenario import PortkeyOptions, Scenario
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
setsid litellm --config "$RUN/litellm.yaml" --host 127.0.0.1 --port "$GATEWAY_PORT" --num_workers 1{gunicorn} \\
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

_NGINX = """
# nginx with the config gatedrill's nginx adapter renders (nginx.conf: its folder, njs module and ports filled in here)
NGINX_BIN="${{NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}}"
JS_MODULE="${{NGINX_JS_MODULE:-}}"
for m in {js_modules}; do [ -z "$JS_MODULE" ] && [ -f "$m" ] && JS_MODULE="$m"; done
if [ -z "$JS_MODULE" ]; then
  echo "run.sh: nginx needs its njs module (apt-get install -y libnginx-mod-http-js) or NGINX_JS_MODULE" >&2; exit 2
fi
mkdir -p "$RUN/nginx/tmp" && cp gatedrill.js "$RUN/nginx/"
ports nginx.conf | sed -e "s#{prefix}#$RUN/nginx#g" -e "s#{js}#$JS_MODULE#g" \\
  -e "s/127\\.0\\.0\\.1:{gateway_port}/127.0.0.1:$GATEWAY_PORT/g" >"$RUN/nginx/nginx.conf"
setsid "$NGINX_BIN" -p "$RUN/nginx" -c "$RUN/nginx/nginx.conf" >"$RUN/gateway.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$GATEWAY_PORT/healthz" "nginx" "$RUN/gateway.log"
: >"$RUN/headers"  # nginx sends the upstream key itself (in nginx.conf)
"""
NGINX_PREFIX, NGINX_JS = "@NGINX_PREFIX@", "@NGINX_JS_MODULE@"  # filled in by run.sh
_CURL = ('curl -sS -i -N --max-time 30 -H @"$RUN/headers" -H "content-type: application/json" --data @request.json '
         '"http://127.0.0.1:$GATEWAY_PORT/v1/chat/completions"')
_METRICS = 'curl -sS --max-time 10 "http://127.0.0.1:$FAKE_PORT/_gatedrill/metrics"'
_STATS = 'curl -sS --max-time 10 "http://127.0.0.1:$GATEWAY_PORT/stats;csv"'


def _twice(curl: str) -> str:
    """The curl line sending its request twice on one kept-alive connection, verbose (connection reuse shows)."""
    args = curl.split(" -N --max-time 30 ", 1)[1]
    return f"curl -sS -v -N --max-time 30 {args} --next {args}"


def run_sh(finding: Finding, portkey_dir: str) -> str:
    """The script: start the fake and the gateway, send `before` requests, then the one curl line."""
    needs = {"litellm": "the LiteLLM proxy (pip install 'litellm[proxy]')",
             "portkey": "node and the Portkey gateway's npm package (README.md)",
             "haproxy": "HAProxy (Debian: apt-get install haproxy)",
             "nginx": "nginx and its njs module (apt-get install -y nginx libnginx-mod-http-js)"}
    if finding.gateway not in needs:
        raise ConfigError(f"finding {finding.id}: no reproduction for the {finding.gateway} gateway yet")
    reload_at = finding.repro.reload_at_s
    if reload_at is not None and finding.gateway not in ("nginx", "litellm"):
        raise ConfigError(f"finding {finding.id}: run.sh reloads only nginx and LiteLLM")
    variants = "".join(f"\n#   {' '.join(f'{k}={shlex.quote(v)}' for k, v in v.env.items())} ./run.sh: {v.what}"
                       for v in finding.repro.variants)
    out = _HEAD.format(id=finding.id, title=finding.title, gateway=finding.gateway, version=finding.version,
                       method=finding.install.method, needs=needs[finding.gateway], fake_port=FAKE_PORT,
                       gateway_port=GATEWAY_PORT, variants=variants and "\n# Variants:" + variants)
    if finding.gateway == "litellm":
        auth = ("printf 'Authorization: Bearer %s\\n' \"$LITELLM_MASTER_KEY\" >\"$RUN/headers\"\n"
                if finding.repro.auth else ": >\"$RUN/headers\"  # this request carries no key\n")
        out += _LITELLM.replace("{auth}", auth).replace("{gunicorn}", " --run_gunicorn" if reload_at else "")
    elif finding.gateway == "haproxy":
        out += _HAPROXY.format(gateway_port=GATEWAY_PORT)
    elif finding.gateway == "nginx":
        from ..gateways.nginx import JS_MODULE_PATHS

        out += _NGINX.format(js_modules=" ".join(JS_MODULE_PATHS), prefix=NGINX_PREFIX, js=NGINX_JS,
                             gateway_port=GATEWAY_PORT)
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
    if reload_at is not None:
        line = _twice(_CURL)
        out += (f"\n# The behaviour: the request twice on one kept-alive connection, and a graceful reload of the "
                f"gateway ({reload_at:g} s in) while the first is answered\necho '+ {line}' >&2\n{line} 2>&1 &\n"
                f"client=$!\nsleep {reload_at:g}\n"
                'echo "run.sh: graceful reload: SIGHUP to the gateway\'s master (pid ${pids[1]})"\n'
                'kill -HUP "${pids[1]}"\nwait "$client" || true\n')
    else:
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
    if r.reload_at_s is not None:
        lines[-3:-3] = ["", f"Here the curl line sends the request twice on one kept-alive connection (`--next`, "
                            f"verbose), and {r.reload_at_s:g} s after it starts run.sh reloads the gateway gracefully "
                            "(SIGHUP to its master process, what `nginx -s reload` and gunicorn's reload send) while "
                            "the first request is being answered."]
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


def nginx_conf(finding: Finding) -> str:
    """The nginx adapter's nginx.conf for the finding's routing intent over its fake (folder and njs module left as
    placeholders for run.sh)."""
    fake = finding.repro.fake
    name = fake.get("name") or fake.get("provider", "openai")
    try:
        scenario = Scenario.model_validate({
            "name": finding.id, "duration_s": 1, "load": {"arrivals": {"profile": "constant", "rate": 1}},
            "upstreams": {name: {k: v for k, v in fake.items() if k in ("provider", "models")}},
            "gateway": {"kind": "nginx", "routing": finding.repro.gateway_config}})
    except ValidationError as exc:
        raise ConfigError(f"finding {finding.id}: gateway_config is not a routing intent over its fake: "
                          f"{format_validation_error(exc)}") from None
    return render(plan(scenario), {name: f"http://127.0.0.1:{FAKE_PORT}"}, f"127.0.0.1:{GATEWAY_PORT}", NGINX_PREFIX,
                  NGINX_JS)


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
    elif finding.gateway == "nginx":
        files["nginx.conf"] = nginx_conf(finding)
        files["gatedrill.js"] = BODY_JS
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
