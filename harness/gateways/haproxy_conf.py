"""HAProxy as a gateway: what of a routing intent plain HAProxy can express (`plan`), and the haproxy.cfg and Lua
script that do it (`render`, `BODY_LUA`). Pure functions of the scenario and the fakes' addresses, so the config is
unit-testable.

What HAProxy does here: one backend holds the weighted targets (`balance roundrobin`, `weight` 0-256; `balance
hdr(x-gatedrill-session-id)` with `hash-type consistent` for sticky sessions). A failed attempt is retried on another
server (`retries`, `retry-on` with the statuses HAProxy can name, `option redispatch 1`). Passive health is `observe
layer7` with `error-limit` (the cooldown's failures, consecutive) and `on-error mark-down`; TCP checks bring a
marked-down server back after two passes (`rise 2`): the one already due (within `inter`, 1 s) and one `fastinter` (the
cooldown; on-error forces it) later, so it stays out the cooldown to a second more, as nginx's `fail_timeout`. A
fallback that serves the targets' model is a `backup` server of the same backend. The body's `model` is rewritten to
what the backend serves by Lua (HAProxy 2.5+): an `http-request` action reads the buffered body (`option
http-buffer-request`), stores the rewritten one and fixes Content-Length; a filter puts it in place of the body, the
only place HAProxy's Lua may change a body. A body that does not fit the buffer (BUFSIZE) is answered 413.

What it cannot do (each becomes a `Limitation`), measured with HAProxy 2.6.12 (Debian 12): translate to the
Anthropic API, send different models to servers of one backend, send a request on to a fallback that asks for
another model or to a context-window fallback (a response, once answered, is never re-sent to another backend), retry
on 429 (`retry-on` cannot name it), back off or honour `retry-after`, count a status that `retry-on` retried
against `error-limit` before 3.1 (only the last attempt's answer is observed, so a failing server that retries cover
is never marked down: finding haproxy-retried-errors-never-mark-down), count 429 at all (`observe layer7` takes
100-499 as valid), or bound a whole attempt (`timeout server` is an inactivity timeout).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from .base import Limitation
from .proxy_group import Hop, affects, host_port, reweigh, target_group

if TYPE_CHECKING:
    from ..scenario import Scenario

BACKEND = "gd_targets"
SESSION_HEADER = "x-gatedrill-session-id"  # fakes.correlation.SESSION_HEADER
RETRY_ON_STATUSES = (401, 403, 404, 408, 425, 500, 501, 502, 503, 504)  # what `retry-on` can name in HAProxy 2.6
RETRY_ON_ALWAYS = ("conn-failure", "empty-response", "response-timeout")
MAX_WEIGHT = 256  # HAProxy's server weights are integers 0-256
BUFSIZE = 1048576  # the whole request body must fit one buffer: Lua reads it, and a retry re-sends it from there
HEALTH_PATH = "/healthz"

BODY_LUA = """\
-- gatedrill: rewrite the request body's `model` to what the backend serves (the action's argument). HAProxy's Lua
-- may change a body only from a filter: the action reads the buffered body (option http-buffer-request), stores the
-- rewritten one and fixes Content-Length; the filter puts it in place of the body.
core.register_action("gatedrill_model", {"http-req"}, function(txn, model)
    local body = txn.f:req_body()
    if body == nil or body == "" then
        return
    end
    local size = tonumber(txn.f:req_body_size()) or #body
    if #body < size then  -- larger than the buffer (tune.bufsize): it cannot be rewritten, nor retried
        local reply = txn:reply()
        reply:set_status(413)
        reply:add_header("content-type", "application/json")
        reply:set_body('{"error":{"message":"HAProxy: the request body (' .. size .. ' bytes) does not fit its ' ..
            'buffer (tune.bufsize)","type":"invalid_request_error","param":null,"code":"request_too_large"}}')
        txn:done(reply)
        return
    end
    -- the first "model" key whose value is a string: top-level in an OpenAI request (a quote inside a JSON string
    -- is escaped, so text in the messages never matches)
    local new, n = string.gsub(body, '"model"%s*:%s*"[^"\\\\]*"', '"model":"' .. model:gsub("%%", "%%%%") .. '"', 1)
    if n == 1 then
        txn:set_var("txn.gatedrill_body", new)
        txn.http:req_set_header("content-length", tostring(#new))
    end
end, 1)

local Body = {}
Body.id = "gatedrill body"
Body.flags = filter.FLT_CFG_FL_HTX
Body.__index = Body

function Body:new()
    return setmetatable({}, Body)
end

function Body:start_analyze(txn, chn)
    if not chn:is_resp() then
        filter.register_data_filter(self, chn)
    end
end

function Body:http_payload(txn, msg)
    local new = txn:get_var("txn.gatedrill_body")
    if new ~= nil and msg:eom() then
        msg:set(new)
        txn:unset_var("txn.gatedrill_body")
    end
end

core.register_filter("gatedrill-body", Body, function(flt, args)
    return flt
end)
"""


@dataclass
class HaproxyPlan:
    targets: list[Hop]  # one backend: the same model for all
    backups: list[Hop]  # fallbacks serving the targets' model: backup servers of the backend
    model: str
    sticky: bool
    error_limit: int  # consecutive observed errors that mark a server down; 0: no passive health
    cooldown_s: float  # downinter: how long a marked-down server waits for the check that brings it back
    retries: int
    retry_on: list[str]
    timeout_s: float
    api_key: str = "sk-gatedrill"
    limitations: list[Limitation] = field(default_factory=list)


def reweighted(p: HaproxyPlan, weights: dict[str, float]) -> HaproxyPlan:
    """The plan with new per-upstream weights (a timeline set_weights); a ConfigError if one names an upstream
    that is not a server of the target backend."""
    return replace(p, targets=reweigh(p.targets, weights, "HAProxy"))


def server_weights(targets: list[Hop]) -> dict[str, int]:
    """Each target's HAProxy weight: its share in percent, whole (HAProxy takes integers up to 256); 0 stays 0 (a
    server that takes no new requests), any other at least 1."""
    total = sum(h.weight for h in targets)
    return {h.upstream: (min(MAX_WEIGHT, max(1, round(100 * h.weight / total))) if h.weight > 0 else 0)
            for h in targets}


def counts_retried_errors(version: str) -> bool:
    """Whether this HAProxy counts a status that retry-on retried against error-limit: from 3.1.0 on (commit
    2a5da31cc, issue #2679). An unknown version is taken as one that does not, and the limitation says so."""
    m = re.match(r"(\d+)\.(\d+)", version)
    return m is not None and (int(m[1]), int(m[2])) >= (3, 1)


def plan(scenario: Scenario, version: str = "unknown") -> HaproxyPlan:
    """What HAProxy `version` will do for this scenario's intent, and what it cannot express."""
    intent = scenario.gateway.routing
    ups = scenario.upstreams
    group = target_group(scenario, "HAProxy")
    targets, model, lims = group.targets, group.model, group.limitations
    in_group = {h.upstream for h in targets}

    backups = []
    other_model = []
    for name in intent.fallbacks:
        if ups[name].provider != "openai" or name in in_group:
            continue
        if model in [m.id for m in ups[name].models]:
            backups.append(Hop(name, model))
        else:
            other_model.append(name)
    if other_model:
        lims.append(Limitation(
            feature="fallbacks_with_other_models", checks=affects(scenario, "rollback"),
            reason=f"HAProxy sends one body per request and never re-sends an answered request to another backend, "
                   f"so a fallback must serve {model} (then it is a backup server); {', '.join(other_model)} "
                   "left out"))
    if backups:
        lims.append(Limitation(
            feature="fallback_order", checks=[],
            reason="a fallback is a backup server: HAProxy sends to it only while every target is marked down, "
                   "and a retry goes to another target first"))
    if {k: v for k, v in intent.context_window_fallbacks.items() if k in in_group}:
        lims.append(Limitation(
            feature="context_window_fallbacks", checks=affects(scenario, "context_window"),
            reason="HAProxy cannot retry on 400 (retry-on has no such status) nor send an answered request to "
                   "another backend: over-window prompts get the small model's 400"))

    retry = intent.retry
    servers = len(targets) + len(backups)
    retries = servers - 1 if servers > 1 else retry.attempts - 1
    if retry.attempts > 1 and servers > 1:
        lims.append(Limitation(
            feature="retry_same_upstream", checks=[],
            reason=f"with option redispatch HAProxy retries on another server; attempts: {retry.attempts} becomes "
                   f"{retries} retr{'y' if retries == 1 else 'ies'} across the backend's {servers} servers"))
    if retry.honor_retry_after or retry.backoff_ms > 0:
        lims.append(Limitation(
            feature="honor_retry_after", checks=[],
            reason="HAProxy retries at once: no backoff, and retry-after is neither honoured nor used to cool a "
                   "server down"))
    unsupported = sorted(set(retry.retry_on) - set(RETRY_ON_STATUSES))
    if unsupported:
        lims.append(Limitation(
            feature="retry_on", checks=affects(scenario, "retry_amplification") if 429 in unsupported else [],
            reason=f"retry-on cannot name {', '.join(map(str, unsupported))}; those statuses pass to the client "
                   "without a retry"))
    statuses = sorted(set(retry.retry_on) & set(RETRY_ON_STATUSES))

    cooldown = intent.cooldown
    if cooldown.enabled:
        lims.append(Limitation(
            feature="cooldown_window", checks=[],
            reason=f"HAProxy marks a server down after error-limit {cooldown.failures} *consecutive* errors it "
                   f"observes (not {cooldown.failures} within {cooldown.window_s:g} s), and a TCP check brings it "
                   f"back after downinter {cooldown.cooldown_s:g} s with no probe request"))
        if statuses and servers > 1 and not counts_retried_errors(version):
            lims.append(Limitation(
                feature="cooldown_on_retried_status", checks=affects(scenario, "rollback"),
                reason=f"HAProxy {version} (before 3.1; Debian 12 ships 2.6.12) does not count a status that "
                       "retry-on retried against error-limit (only the answer of the last attempt is observed), so a "
                       "target that fails while retries cover it is never marked down: it keeps its share of the "
                       "traffic (finding haproxy-retried-errors-never-mark-down)"))
        if 429 in retry.retry_on:
            lims.append(Limitation(
                feature="cooldown_on_429", checks=[],
                reason="observe layer7 takes 100-499 as valid answers: 429s never count against error-limit"))
    lims.append(Limitation(
        feature="timeout_per_attempt", checks=[],
        reason=f"timeout server {intent.timeout_s:g}s bounds the gap between two reads, not a whole attempt: a "
               "stream that keeps trickling is never cut"))
    if intent.allow_truncation:
        lims.append(Limitation(feature="allow_truncation", checks=[],
                               reason="HAProxy never truncates prompts (it cannot read them as tokens)"))
    return HaproxyPlan(
        targets=targets, backups=backups, model=model, sticky=intent.sticky == "session",
        error_limit=cooldown.failures if cooldown.enabled else 0, cooldown_s=cooldown.cooldown_s,
        retries=max(0, retries), retry_on=[*RETRY_ON_ALWAYS, *map(str, statuses)], timeout_s=intent.timeout_s,
        limitations=lims)


def _ms(seconds: float) -> str:
    return f"{max(1, round(seconds * 1000))}ms"


def _json_error(status: int, code: str, message: str) -> str:
    return ('{"error":{"message":"' + message + '","type":"api_error","param":null,"code":"' + code + '"}}')


def render(p: HaproxyPlan, urls: dict[str, str], listen: str, admin: str, lua: str) -> str:
    """haproxy.cfg text for plan `p`: `urls` maps upstream names to origins, `listen` is HOST:PORT, `admin` the
    runtime API's address (`stats socket`, level admin), `lua` the path of BODY_LUA. Runs in the foreground
    (`haproxy -db`) and logs every request to stderr."""
    weights = server_weights(p.targets)
    out = [
        "# generated by gatedrill: run with haproxy -db -f THIS_FILE",
        "global",
        "  nbthread 1",
        "  maxconn 4096",
        f"  tune.bufsize {BUFSIZE}",
        "  log stderr format raw local0 info",
        f"  stats socket {admin} level admin",
        f"  lua-load {lua}",
        "",
        "defaults",
        "  mode http",
        "  log global",
        "  option httplog",
        f"  timeout connect {_ms(min(p.timeout_s, 5.0))}",
        "  timeout client 300s",
        f"  timeout server {_ms(p.timeout_s)}",
        "  timeout http-request 30s",
        "",
        "frontend gd_in",
        f"  bind {listen}",
        "  option http-buffer-request  # the whole body before routing: Lua rewrites it, a retry re-sends it",
        f"  http-request return status 200 content-type text/plain string ok if {{ path {HEALTH_PATH} }}",
        f"  default_backend {BACKEND}",
        "",
        f"backend {BACKEND}",
    ]
    if p.sticky:
        out += [f"  balance hdr({SESSION_HEADER})  # sticky sessions", "  hash-type consistent"]
    else:
        out.append("  balance roundrobin")
    out += [
        "  filter lua.gatedrill-body",
        f"  http-request lua.gatedrill_model {p.model}",
        f'  http-request set-header Authorization "Bearer {p.api_key}"',
        f"  retries {p.retries}",
        f"  retry-on {' '.join(p.retry_on)}",
        "  option redispatch 1  # every retry on another server",
        "  http-response set-header x-gatedrill-haproxy-server %[srv_name]",
    ]
    for status, code, msg in ((502, "bad_gateway", "HAProxy: the upstream answered badly or not at all"),
                              (503, "service_unavailable", "HAProxy: no upstream server is available"),
                              (504, "gateway_timeout", "HAProxy: the upstream did not answer in time")):
        out.append(f"  http-error status {status} content-type application/json "
                   f"string '{_json_error(status, code, msg)}'")
    health = ""
    if p.error_limit:
        # the check already due (within `inter`) passes first; the second, `fastinter` later (on-error forces it),
        # brings the server back (rise 2): so it stays out about the cooldown
        cooldown = _ms(p.cooldown_s)
        health = (f" check inter 1s fastinter {cooldown} downinter {cooldown} rise 2 fall 3 observe layer7 "
                  f"error-limit {p.error_limit} on-error mark-down")
    for h in p.targets:
        out.append(f"  server {h.upstream} {host_port(urls[h.upstream], 'HAProxy')} weight {weights[h.upstream]}"
                   f"{health}")
    for h in p.backups:
        out.append(f"  server {h.upstream} {host_port(urls[h.upstream], 'HAProxy')} backup{health}")
    return "\n".join(out) + "\n"
