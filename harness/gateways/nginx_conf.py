"""nginx as a gateway: what of a routing intent plain nginx can express (`plan`), and the nginx.conf that does it
(`render`). Pure functions of the scenario and the fakes' addresses, so the config is unit-testable and the same
text serves a local nginx and one in a container.

What nginx does here: one upstream group holds the weighted targets (`weight=`; `max_fails`/`fail_timeout` as the
circuit breaker; `hash $http_x_gatedrill_session_id consistent` for sticky sessions). `proxy_next_upstream` moves a
failed attempt (error, timeout, the retryable statuses, POSTs included via `non_idempotent`) to the next server of
the group. When the group is exhausted, `error_page` sends the request on to each declared fallback in turn (named
locations), and an upstream 400 goes to the context-window fallback. An njs function (`js_set` + `proxy_set_body`)
rewrites the body's `model` to what the upstream serves, since clients ask for the public model name.

What it cannot do (each becomes a `Limitation`): translate to the Anthropic API (nginx relays bytes), send
different models to servers of one group (the body is built once per request and re-sent unchanged to the next
server), retry the same server, back off or honour `retry-after`, look at an error body (every 400 goes to the
context fallback), or check a prompt against a model's window before sending it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from .base import Limitation
from .proxy_group import Hop, affects, host_port, reweigh, target_group

if TYPE_CHECKING:
    from ..scenario import Scenario

SESSION_VAR = "$http_x_gatedrill_session_id"  # fakes.correlation.SESSION_HEADER as an nginx variable
NEXT_UPSTREAM_STATUSES = (429, 500, 502, 503, 504)  # the statuses proxy_next_upstream can name that retry_on uses
# Placeholder servers in the targets' group (nothing listens there). nginx ignores max_fails in a group of one server:
# a `down` one makes it two. And nginx counts a failing *status* (500, 429...) against max_fails only when it can
# still move on to another try, so the last server tried would never be marked down: a `backup` one (refused at
# once, then marked down itself) adds that try. Its refusal ends the group with nginx's own 502 instead of the
# upstream's status (a 429 would lose its retry-after), so only where a fallback takes the request on from there;
# never with `hash` (no backup servers).
PLACEHOLDER = "127.0.0.1:9"
GENERATION_PATH = "/_gatedrill/generation"  # answers the config's generation (see NginxPlan.generation)
MAX_BODY = "64m"  # bodies stay in memory (one buffer) so njs can read them and a fallback can re-send them

BODY_JS = """\
// gatedrill: rewrite the request body's `model` to what the chosen upstream serves ($gatedrill_model).
function body(r) {
    var text = r.requestText;
    if (!text) {
        return "";
    }
    try {
        var b = JSON.parse(text);
        b.model = r.variables.gatedrill_model;
        return JSON.stringify(b);
    } catch (e) {
        return text;
    }
}
export default {body};
"""


@dataclass
class NginxPlan:
    targets: list[Hop]  # one group: the same model for all
    fallbacks: list[Hop]  # tried in order once the group is exhausted
    context: Hop | None  # where an upstream 400 goes
    sticky: bool
    placeholder_backup: bool  # see PLACEHOLDER
    max_fails: int  # 0: never marked down
    fail_timeout_s: int
    tries: int
    next_upstream: list[str]  # proxy_next_upstream conditions
    fallback_statuses: list[int]  # upstream statuses error_page sends on to the next fallback
    timeout_s: float
    api_key: str = "sk-gatedrill"
    limitations: list[Limitation] = field(default_factory=list)
    generation: int = 0  # counts weight changes; GENERATION_PATH answers it, so a reload shows when it serves
    standby: frozenset[str] = frozenset()  # targets that are also declared fallbacks: at weight 0 a `backup` server


def reweighted(p: NginxPlan, weights: dict[str, float], generation: int) -> NginxPlan:
    """The plan with new per-upstream weights (a timeline set_weights); a ConfigError if one names an upstream
    that is not a server of the group (nginx cannot add a server the config never had)."""
    return replace(p, targets=reweigh(p.targets, weights, "nginx"), generation=generation)


def plan(scenario: Scenario) -> NginxPlan:
    """What nginx will do for this scenario's intent, and what it cannot express."""
    intent = scenario.gateway.routing
    ups = scenario.upstreams

    def models(name: str) -> list[str]:
        return [m.id for m in ups[name].models]

    group = target_group(scenario, "nginx")
    targets, model, lims = group.targets, group.model, group.limitations
    in_group = {h.upstream for h in targets}

    fallbacks = []
    for name in intent.fallbacks:
        if ups[name].provider == "openai" and name not in in_group:
            served = models(name)
            fallbacks.append(Hop(name, model if model in served else served[0]))

    context = None
    cw = {k: v for k, v in intent.context_window_fallbacks.items() if k in in_group}
    if cw:
        dest = sorted(set(cw.values()))
        if ups[dest[0]].provider == "openai":
            served = models(dest[0])
            context = Hop(dest[0], model if model in served else served[0])
        if len(dest) > 1:
            lims.append(Limitation(
                feature="context_window_fallbacks", checks=affects(scenario, "context_window"),
                reason=f"nginx cannot tell which server of the group answered a 400, so one context fallback "
                       f"({dest[0]}) serves the whole group; {', '.join(dest[1:])} unused"))
        lims.append(Limitation(
            feature="context_window_precheck", checks=affects(scenario, "context_window"),
            reason="nginx cannot count a prompt's tokens: over-window prompts reach the small model first, and "
                   "every 400 from it (not only context errors) is re-sent to the context fallback"))

    retry = intent.retry
    if retry.attempts > 1:
        lims.append(Limitation(
            feature="retry_same_upstream", checks=[],
            reason=f"nginx never retries the server that failed; a failed attempt moves to the next server "
                   f"(attempts: {retry.attempts} becomes one attempt per server)"))
    if retry.honor_retry_after or retry.backoff_ms > 0:
        lims.append(Limitation(
            feature="honor_retry_after", checks=[],
            reason="nginx moves to the next server at once: no backoff, retry-after is neither honoured nor used "
                   "to cool an upstream down (max_fails/fail_timeout only)"))
    unsupported = sorted(set(retry.retry_on) - set(NEXT_UPSTREAM_STATUSES))
    if unsupported:
        lims.append(Limitation(
            feature="retry_on", checks=[],
            reason=f"proxy_next_upstream cannot name {', '.join(map(str, unsupported))}; those statuses pass to "
                   "the client without a retry"))
    statuses = sorted(set(retry.retry_on) & set(NEXT_UPSTREAM_STATUSES))
    cooldown = intent.cooldown
    fail_timeout = max(1, round(cooldown.cooldown_s))  # nginx takes whole seconds here
    if cooldown.enabled and (cooldown.window_s != cooldown.cooldown_s or fail_timeout != cooldown.cooldown_s):
        lims.append(Limitation(
            feature="cooldown_window", checks=[],
            reason=f"nginx's fail_timeout (whole seconds) is both the window that counts failures and the time a "
                   f"server stays out: fail_timeout={fail_timeout}s for window_s {cooldown.window_s:g}, "
                   f"cooldown_s {cooldown.cooldown_s:g}"))
    # the placeholder backup turns the last failure into nginx's own 502, which only a fallback may hide
    backup = cooldown.enabled and intent.sticky != "session" and bool(fallbacks)
    if cooldown.enabled and not backup:
        lims.append(Limitation(
            feature="cooldown_on_status", checks=affects(scenario, "rollback") if len(targets) == 1 else [],
            reason="nginx counts a failing status (429, 5xx) against max_fails only when another try follows; "
                   f"without {'a fallback' if intent.sticky != 'session' else 'backup servers (hash)'} the last "
                   "server tried is never taken out by statuses, only by connection errors and timeouts"))
    lims.append(Limitation(
        feature="timeout_per_attempt", checks=[],
        reason=f"proxy_read_timeout {intent.timeout_s:g}s bounds the gap between two reads, not a whole attempt: "
               "a stream that keeps trickling is never cut"))
    if intent.allow_truncation:
        lims.append(Limitation(feature="allow_truncation", checks=[],
                               reason="nginx never truncates prompts (it cannot read them as tokens)"))
    # a target the intent also names as a fallback still takes failed attempts at weight 0 (the last step of a
    # migration puts the old side there): a `backup` server, which nginx refuses next to `hash`
    standby = frozenset(in_group & set(intent.fallbacks)) if intent.sticky != "session" else frozenset()
    return NginxPlan(
        targets=targets, fallbacks=fallbacks, context=context, sticky=intent.sticky == "session", standby=standby,
        max_fails=cooldown.failures if cooldown.enabled else 0, fail_timeout_s=fail_timeout,
        placeholder_backup=backup, tries=len(targets) + (1 if backup else 0),
        next_upstream=["error", "timeout", *(f"http_{s}" for s in statuses), "non_idempotent"],
        fallback_statuses=statuses, timeout_s=intent.timeout_s, limitations=lims)


def _locations(p: NginxPlan) -> int:
    return 1 + len(p.fallbacks) + (p.context is not None)


def _host_port(base_url: str) -> str:
    return host_port(base_url, "nginx")


def _ms(seconds: float) -> str:
    return f"{max(1, round(seconds * 1000))}ms"


def _json_error(status: int, code: str, message: str) -> str:
    return ('{"error":{"message":"' + message + '","type":"api_error","param":null,"code":"' + code + '"}}')


def render(p: NginxPlan, urls: dict[str, str], listen: str, prefix: str,
           js_module: str = "/usr/lib/nginx/modules/ngx_http_js_module.so") -> str:
    """nginx.conf text for plan `p`; `urls` maps upstream names to origins, `prefix` holds pid, js and temp files
    (`nginx -p PREFIX`), `listen` is HOST:PORT. Runs in the foreground and logs errors to stderr."""
    prefix = prefix.rstrip("/")
    out = [
        f"# generated by gatedrill: run with nginx -p {prefix} -c {prefix}/nginx.conf",
        "daemon off;",
        "worker_processes 1;",
        "worker_rlimit_nofile 16384;",
        f"pid {prefix}/nginx.pid;",
        "error_log stderr warn;",
        f"load_module {js_module};",
        "events { worker_connections 4096; }",
        "http {",
        "  log_format gatedrill '$msec $status $request_time \"$upstream_addr\" \"$upstream_status\" '",
        "                       '\"$upstream_response_time\" $http_x_gatedrill_correlation_id';",
        f"  access_log {prefix}/access.log gatedrill;",
        *(f"  {kind}_temp_path {prefix}/tmp/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")),
        f"  client_max_body_size {MAX_BODY};",
        f"  client_body_buffer_size {MAX_BODY};",
        "  client_body_in_single_buffer on;",
        f"  js_import gatedrill from {prefix}/gatedrill.js;",
        # one variable per location: nginx caches a variable's value for the whole request, error_page included
        *(f"  js_set $gatedrill_body_{i} gatedrill.body;" for i in range(_locations(p))),
        "",
        "  upstream gd_targets {",
    ]
    if p.sticky:
        out.append(f"    hash {SESSION_VAR} consistent;  # sticky sessions")
    total = sum(h.weight for h in p.targets)
    for h in p.targets:  # whole-number weights in percent (nginx takes integers); weight 0: a `down` server, or a
        # `backup` one where it is also a declared fallback
        fails = f" max_fails={p.max_fails} fail_timeout={round(p.fail_timeout_s)}s"
        weight = (f" weight={max(1, round(100 * h.weight / total))}" if h.weight > 0
                  else " backup" if h.upstream in p.standby else " down")
        out.append(f"    server {_host_port(urls[h.upstream])}{weight}{fails};  # {h.upstream}")
    if p.max_fails and len(p.targets) == 1:  # see PLACEHOLDER
        out.append(f"    server {PLACEHOLDER} down;  # nginx ignores max_fails in a group of one server")
    if p.placeholder_backup:
        out.append(f"    server {PLACEHOLDER} backup;  # one more try, so the last failing status counts too")
    out += ["    keepalive 32;", "  }"]
    extra = [(f"gd_fallback_{i}", h) for i, h in enumerate(p.fallbacks)]
    if p.context is not None:
        extra.append(("gd_context", p.context))
    for group, h in extra:
        out += [f"  upstream {group} {{", f"    server {_host_port(urls[h.upstream])};  # {h.upstream}",
                "    keepalive 8;", "  }"]
    out += [
        "",
        "  server {",
        f"    listen {listen};",
        "    proxy_http_version 1.1;",
        '    proxy_set_header Connection "";',
        f'    proxy_set_header Authorization "Bearer {p.api_key}";',
        "    proxy_buffering off;  # SSE passes through as it comes",
        f"    proxy_connect_timeout {_ms(min(p.timeout_s, 5.0))};",
        f"    proxy_send_timeout {_ms(p.timeout_s)};",
        f"    proxy_read_timeout {_ms(p.timeout_s)};",
        "    recursive_error_pages on;",
        "    add_header x-gatedrill-nginx-upstream $upstream_addr always;",
        "    add_header x-gatedrill-nginx-upstream-status $upstream_status always;",
        '    location = /healthz { return 200 "ok\\n"; }',
        f'    location = {GENERATION_PATH} {{ return 200 "{p.generation}"; }}',
    ]
    chain = [("/v1/", "gd_targets", p.targets[0].model)] + [(f"@{g}", g, h.model) for g, h in extra
                                                             if g != "gd_context"]
    for i, (loc, group, model) in enumerate(chain):
        nxt = chain[i + 1][0] if i + 1 < len(chain) else None
        out += [f"    location {loc} {{", f"      set $gatedrill_model {model};",
                f"      proxy_set_body $gatedrill_body_{i};", f"      proxy_pass http://{group};"]
        if group == "gd_targets":
            out += [f"      proxy_next_upstream {' '.join(p.next_upstream)};",
                    f"      proxy_next_upstream_tries {p.tries};"]
        else:
            out.append("      proxy_next_upstream off;")
        if nxt is not None or (group == "gd_targets" and p.context is not None):
            out.append("      proxy_intercept_errors on;")
        if nxt is not None:
            codes = sorted(set(p.fallback_statuses) | {502, 504})
            out.append(f"      error_page {' '.join(map(str, codes))} = {nxt};")
        else:
            out += ["      error_page 502 = @gd_502;", "      error_page 504 = @gd_504;"]
        if group == "gd_targets" and p.context is not None:
            out.append("      error_page 400 = @gd_context;")
        out.append("    }")
    if p.context is not None:
        out += ["    location @gd_context {", f"      set $gatedrill_model {p.context.model};",
                f"      proxy_set_body $gatedrill_body_{len(chain)};",
                "      proxy_pass http://gd_context;", "      proxy_next_upstream off;",
                "      error_page 502 = @gd_502;", "      error_page 504 = @gd_504;", "    }"]
    for status, code, msg in ((502, "bad_gateway", "nginx: no upstream could be reached"),
                              (504, "gateway_timeout", "nginx: the upstream did not answer in time")):
        out += [f"    location @gd_{status} {{", "      default_type application/json;",
                f"      return {status} '{_json_error(status, code, msg)}';", "    }"]
    out += ["  }", "}", ""]
    return "\n".join(out)
