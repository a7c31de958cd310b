"""Contract probes that need more than one request or a fault upstream, which Schemathesis' per-case checks
cannot express:

- `rate_limit_passthrough`: every upstream answers 429 with `retry-after: 7` (a fault rule on the fakes we own,
  or the `x-gatedrill-fault` header for a gateway at a URL); the client must get a 429 (streamed or not), a
  positive `retry-after`, and the OpenAI error envelope; and (journals) no upstream was called again before its
  retry-after had passed.
- `broken_stream_surfaces`: every upstream breaks its stream after two content chunks (an error event, or a
  connection reset); the client's stream must end in an error (or be an error response), never in a clean `[DONE]`
  that passes a short reply off as complete.
- `context_window_respected` (fakes we own, with known windows): a prompt larger than every upstream's window gets
  a 400 in OpenAI's envelope; it is never answered 200 after being silently cut to fit.
- `conversation_continuity` (stateful): Hypothesis-generated sessions continued over several calls, the reply of
  call N appended to the messages of call N+1. Witness replies state the digest of the conversation the upstream
  received; it must equal the digest of what the client sent, whichever upstream served the turn.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import shlex
import time
from typing import Any

import httpx
import orjson
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from gatedrill.fakes import digest, make_marker, openai_atoms

from ..validate import ContractViolation, StreamSummary, check_response
from .results import Finding, Part
from .target import SuiteTarget

RETRY_AFTER_S = 7
FAULT_HEADER = "x-gatedrill-fault"
WITNESS = re.compile(r"witness fake=(\S+) turn=(\d+) digest=([0-9a-f]+) atoms=(\d+)")
TEXT = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=60).filter(
    lambda s: s.strip() != "")


def curl(url: str, body: dict[str, Any], headers: dict[str, str]) -> str:
    """A curl line for one JSON POST; credentials are redacted."""
    parts = ["curl", "-X", "POST", url, "-H", "content-type: application/json"]
    for k, v in headers.items():
        shown = "Bearer [REDACTED]" if k.lower() == "authorization" else v
        parts += ["-H", f"{k}: {shown}"]
    parts += ["-d", json.dumps(body, ensure_ascii=False)]
    return " ".join(shlex.quote(p) for p in parts)


def rate_limit_passthrough(target: SuiteTarget, model: str, client: httpx.Client) -> Part:
    part = Part("rate_limit_passthrough")
    t0 = time.monotonic()
    fault = {"kind": "http_error", "status": 429, "retry_after": RETRY_AFTER_S}
    extra = {} if target.fakes else {FAULT_HEADER: json.dumps(fault)}
    target.set_faults([{"name": "contract-429", "fault": fault}])
    try:
        for stream in (False, True):
            body: dict[str, Any] = {"model": model, "max_tokens": 8, "stream": stream,
                                    "messages": [{"role": "user", "content": "rate limit probe"}]}
            headers = {**target.headers, **extra, "x-gatedrill-correlation-id": f"contract-429-{int(stream)}"}
            url = target.url + "/v1/chat/completions"
            r = client.post(url, json=body, headers=headers)
            part.cases += 1
            problem = _rate_limit_problem(r) or _early_retry(target, headers["x-gatedrill-correlation-id"])
            if problem:
                part.findings.append(Finding(part.name, ["rate_limit_passthrough"],
                                             f"{'streamed' if stream else 'non-streamed'} request: {problem}",
                                             curl(url, body, headers)))
    finally:
        target.clear_faults()
    part.seconds = time.monotonic() - t0
    return part


def _rate_limit_problem(r: httpx.Response) -> str | None:
    if r.status_code != 429:
        return (f"every upstream answered 429 with retry-after {RETRY_AFTER_S}, but the client got "
                f"{r.status_code}: {r.text[:200]}")
    value = r.headers.get("retry-after")
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        seconds = None
    if seconds is None or seconds <= 0:
        return f"429 without a usable retry-after (got {value!r}); clients cannot know when to come back"
    try:
        check_response("gateway", "post", "/v1/chat/completions", 429, r.headers.get("content-type"), r.content,
                       dict(r.headers))
    except ContractViolation as exc:
        return str(exc)
    return None


def _early_retry(target: SuiteTarget, cid: str) -> str | None:
    """An upstream called again before the retry-after it had just sent was over (fakes' journals only)."""
    by_fake: dict[str, list[float]] = {}
    for e in target.journal(cid):
        by_fake.setdefault(e["fake"], []).append(e["arrival_mono"])
    for fake, times in sorted(by_fake.items()):
        gaps = [b - a for a, b in itertools.pairwise(times)]
        early = [g for g in gaps if g < RETRY_AFTER_S * 0.95]
        if early:
            return (f"upstream {fake} answered 429 with retry-after {RETRY_AFTER_S} s, yet was called "
                    f"{len(times)} times for one client request, again after {min(early):.3f} s")
    return None


BROKEN_STREAMS = {
    "stream_error": {"kind": "stream_error", "status": 500, "after_chunks": 2},
    "reset_mid_stream": {"kind": "reset_mid_stream", "after_chunks": 2},
}


def broken_stream_surfaces(target: SuiteTarget, model: str, client: httpx.Client) -> Part:
    part = Part("broken_stream_surfaces")
    t0 = time.monotonic()
    url = target.url + "/v1/chat/completions"
    for name, fault in BROKEN_STREAMS.items():
        extra = {} if target.fakes else {FAULT_HEADER: json.dumps(fault)}
        target.set_faults([{"name": f"contract-{name}", "fault": fault}])
        body = {"model": model, "max_tokens": 64, "stream": True,
                "messages": [{"role": "user", "content": "broken stream probe"}]}
        headers = {**target.headers, **extra, "x-gatedrill-correlation-id": f"contract-{name}"}
        try:
            r = client.post(url, json=body, headers=headers)
            problem = _broken_stream_problem(r, name)
        except httpx.HTTPError as exc:
            problem = None if name == "reset_mid_stream" else f"{name}: the connection failed: {exc}"
        finally:
            target.clear_faults()
        part.cases += 1
        if problem:
            part.findings.append(Finding(part.name, ["broken_stream_surfaces"], problem, curl(url, body, headers)))
    part.seconds = time.monotonic() - t0
    return part


def _broken_stream_problem(r: httpx.Response, name: str) -> str | None:
    """None when a stream every upstream broke reached the client as a failure (an error event or status)."""
    try:
        out = check_response("gateway", "post", "/v1/chat/completions", r.status_code, r.headers.get("content-type"),
                             r.content)
    except ContractViolation as exc:
        if r.status_code == 200 and name == "reset_mid_stream" and "without [DONE] or an error event" in str(exc):
            return None  # the gateway passed the reset on: the client sees a cut stream, which is a failure
        return f"{name}: {exc}"
    if isinstance(out, StreamSummary) and out.done:
        return (f"{name}: every upstream broke the stream after two chunks, yet the client got a clean stream "
                f"ending in [DONE] ({len(out.text.get(0, ''))} characters, finish {out.finish}): a short reply "
                "passed off as complete")
    return None


def context_window_respected(target: SuiteTarget, model: str, client: httpx.Client) -> Part:
    part = Part("context_window_respected")
    windows = [m.context_window for srv in target.fakes.values() for m in srv.fake.config.models]
    if not windows:
        part.skipped = "needs fakes with known context windows (not available for url: gateways)"
        return part
    t0 = time.monotonic()
    words = max(windows) + 1000  # about one token per word with either tokenizer policy
    messages = [{"role": "user", "content": "word " * words}]
    body = {"model": model, "messages": messages, "max_tokens": 16}
    cid = "contract-window"
    headers = {**target.headers, "x-gatedrill-correlation-id": cid}
    url = target.url + "/v1/chat/completions"
    r = client.post(url, json=body, headers=headers)
    part.cases = 1
    problem = None
    if r.status_code == 200:
        served = [e for e in target.journal(cid) if e.get("status") == 200 and e.get("reply")]
        where = f" by {served[-1]['fake']}, which received digest {served[-1]['reply']['digest']} instead of " \
                f"{digest(openai_atoms(messages))}" if served else ""
        problem = (f"a prompt of about {words} tokens, over every window ({', '.join(map(str, windows))}), was "
                   f"answered 200{where}: the gateway cut it to fit without telling the client")
    elif r.status_code != 400:
        problem = f"a prompt over every context window got {r.status_code}, not 400: {r.text[:200]}"
    else:
        try:
            check_response("gateway", "post", "/v1/chat/completions", 400, r.headers.get("content-type"), r.content)
        except ContractViolation as exc:
            problem = str(exc)
    if problem:
        shown = {**body, "messages": [{"role": "user", "content": f"word (x{words})"}]}
        part.findings.append(Finding(part.name, ["context_window_respected"], problem, curl(url, shown, headers)))
    part.seconds = time.monotonic() - t0
    return part


def conversation_continuity(target: SuiteTarget, model: str, client: httpx.Client, sessions: int = 6,
                            turns: int = 3, seed: int = 0) -> Part:
    part = Part("conversation_continuity (stateful)")
    t0 = time.monotonic()
    found: dict[str, Finding] = {}
    counter = [0]
    verified = [0]  # turns whose history reached an upstream provably whole

    @settings(max_examples=sessions, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck), phases=[Phase.generate, Phase.shrink])
    @given(system=st.none() | TEXT, texts=st.lists(TEXT, min_size=turns, max_size=turns))
    def session(system: str | None, texts: list[str]) -> None:
        counter[0] += 1
        sid = f"contract-s{seed}-{counter[0]}"
        messages: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
        for turn, text in enumerate(texts, 1):
            messages.append({"role": "user", "content": text})
            cid = f"{sid}-t{turn}"
            body = {"model": model, "messages": messages, "max_tokens": 64, "user": make_marker(cid, sid, turn)}
            headers = {**target.headers, "x-gatedrill-correlation-id": cid, "x-gatedrill-session-id": sid,
                       "x-gatedrill-turn": str(turn)}
            url = target.url + "/v1/chat/completions"
            try:
                r = client.post(url, json=body, headers=headers)
            except httpx.HTTPError as exc:
                message = f"turn {turn}: no HTTP answer: {type(exc).__name__}: {exc}"
                found["no answer"] = Finding(part.name, ["no answer"], message, curl(url, body, headers))
                raise AssertionError(message) from None
            part.cases += 1
            problem = _turn_problem(target, r, cid, messages, turn)
            if problem is None:
                verified[0] += 1
            elif problem[0] != "unverifiable":
                key, message = problem
                found[key] = Finding(part.name, ["conversation_continuity"], message, curl(url, body, headers))
                raise AssertionError(message)
            reply = orjson.loads(r.content)["choices"][0]["message"]["content"] or ""
            messages = [*messages, {"role": "assistant", "content": reply}]

    with contextlib.suppress(Exception):  # failures are in `found`, the last one stored being the shrunk one
        session()
    part.findings = list(found.values())
    if not verified[0] and not part.findings:
        part.skipped = ("the replies are not gatedrill witness replies, so what the upstream received cannot be "
                        "verified (point the gateway at fakes with reply mode witness)")
    part.seconds = time.monotonic() - t0
    return part


def _turn_problem(target: SuiteTarget, r: httpx.Response, cid: str, messages: list[dict[str, Any]],
                  turn: int) -> tuple[str, str] | None:
    """(kind, explanation) when this turn broke the conversation's contract, else None."""
    if r.status_code != 200:
        return "status", f"turn {turn}: status {r.status_code}: {r.text[:200]}"
    try:
        out = check_response("gateway", "post", "/v1/chat/completions", 200, r.headers.get("content-type"), r.content)
    except ContractViolation as exc:
        return "schema", f"turn {turn}: {exc}"
    sent = digest(openai_atoms(messages))
    if target.fakes:
        served = [e for e in target.journal(cid) if e.get("status") == 200 and e.get("reply")]
        if not served:
            return "journal", f"turn {turn}: the client got a 200 but no upstream journaled one for {cid}"
        got, where = served[-1]["reply"]["digest"], served[-1]["fake"]
    else:
        assert isinstance(out, dict)
        m = WITNESS.search(out["choices"][0]["message"].get("content") or "")
        if m is None:  # not witness replies: the gateway's upstreams are not gatedrill fakes in witness mode
            return "unverifiable", f"turn {turn}: not a witness reply"
        got, where = m.group(3), m.group(1)
    if got != sent:
        return "history", (f"turn {turn} reached upstream {where} with conversation digest {got}, but the client sent "
                           f"{len(messages)} messages with digest {sent}: the gateway dropped or altered history")
    return None
