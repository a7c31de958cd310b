"""The gateway contract suite: it passes against the reference gateway and fails against each mutant it can see,
with the minimal failing request as a curl line; `gatedrill contract` runs the same suite from the command line."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gatedrill.contracts.gateway_suite import (
    SuiteOptions,
    SuiteResult,
    SuiteTarget,
    contract_documents,
    run_suite,
    start_target,
)

pytestmark = pytest.mark.timeout(240)
QUICK = {"max_examples": 15, "sessions": 4, "budget_s": 60.0}


@pytest.fixture(scope="module")
def reference() -> Iterator[SuiteTarget]:
    with start_target("reference") as target:
        yield target


@pytest.fixture(scope="module")
def reference_result(reference: SuiteTarget) -> SuiteResult:
    return run_suite(reference, SuiteOptions(**QUICK))  # type: ignore[arg-type]


def test_the_reference_gateway_meets_the_contract(reference_result: SuiteResult) -> None:
    assert reference_result.ok, "\n".join(reference_result.summary_lines())
    ran = {p.name: p.cases for p in reference_result.parts if not p.skipped}
    assert ran["POST /v1/chat/completions [positive]"] >= QUICK["max_examples"]
    assert ran["POST /v1/chat/completions [negative]"] >= QUICK["max_examples"]
    assert ran["GET /v1/models [positive]"] >= 1
    assert ran["rate_limit_passthrough"] == 2
    assert ran["context_window_respected"] == 1
    assert ran["broken_stream_surfaces"] == 2
    assert ran["conversation_continuity (stateful)"] == QUICK["sessions"] * 3


def test_streams_through_the_reference_gateway_reassemble_to_what_the_upstream_produced(
        reference: SuiteTarget) -> None:
    """The reassembly check compared real streams: the fakes journaled the suite's streamed cases."""
    streamed = [r for srv in reference.fakes.values() for r in srv.fake.journal.records()
                if r["stream"] and r["status"] == 200 and (r["correlation_id"] or "").startswith("contract-0-")]
    assert streamed, "the positive cases included no streamed request"


def test_positive_generation_reaches_every_documented_chat_option() -> None:
    """Every property of the chat request schema shows up in generated cases (a misplaced schema keyword once
    hid all options but three), and every generated body is valid for its schema."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    doc = contract_documents("drill")["positive"]
    op = schemathesis.openapi.from_dict(doc)["/v1/chat/completions"]["POST"]
    documented = set(doc["components"]["schemas"]["GatewayChatRequest"]["properties"])
    assert documented == {"model", "messages", "stream", "stream_options", "max_tokens", "temperature", "top_p",
                          "stop", "seed", "user"}
    seen: set[str] = set()

    @settings(max_examples=150, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(case=op.as_strategy())
    def draw(case: Any) -> None:
        assert case.body["model"] == "drill" and any(m["role"] == "user" for m in case.body["messages"])
        seen.update(case.body)

    draw()
    assert seen == documented


# The mutants a contract can see in single requests, and the check that sees each. The other two need traffic
# over time and are the drills' to catch: ignore_weights (a split is statistical) and never_cooldown (a breaker).
VISIBLE_MUTANTS = [
    ("rate_limit_to_500", ("rate_limit",), {"rate_limit_passthrough"}),
    ("retry_storm", ("rate_limit",), {"rate_limit_passthrough"}),
    ("lose_stream_tail", ("positive",), {"Custom check failed: `sse_stream_conformance`"}),
    ("duplicate_requests", ("positive",), {"Custom check failed: `one_upstream_call_per_request`"}),
    ("truncate_over_window", ("context_window",), {"context_window_respected"}),
    ("drop_history_on_switch", ("stateful",), {"conversation_continuity"}),
]


@pytest.mark.parametrize(("mutant", "parts", "expected"), VISIBLE_MUTANTS)
def test_each_visible_mutant_fails_its_contract_check(mutant: str, parts: tuple[str, ...], expected: set[str]) -> None:
    with start_target("reference", mutant=mutant) as target:
        result = run_suite(target, SuiteOptions(parts=parts, **QUICK))  # type: ignore[arg-type]
    assert result.failed_checks() == expected, "\n".join(result.summary_lines())
    for finding in result.findings:
        assert finding.curl and finding.curl.startswith("curl ") and "/v1/chat/completions" in finding.curl, finding
        assert "sk-gatedrill" not in finding.curl  # credentials are redacted


def test_a_lost_stream_tail_shrinks_to_a_minimal_request() -> None:
    with start_target("reference", mutant="lose_stream_tail") as target:
        result = run_suite(target, SuiteOptions(parts=("positive",), **QUICK))  # type: ignore[arg-type]
    (finding,) = result.findings
    assert finding.curl is not None and '"stream": true' in finding.curl
    assert finding.curl.count('"role"') == 1  # one message is all it takes


def test_gatedrill_contract_exits_1_and_writes_junit_on_a_finding(tmp_path: Path) -> None:
    junit = tmp_path / "contract.xml"
    argv = [sys.executable, "-m", "gatedrill", "contract", "--mutant", "rate_limit_to_500", "--junit", str(junit),
            "--max-examples", "5", "--part", "rate_limit", "--part", "positive"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAIL  rate_limit_passthrough" in proc.stdout and "reproduce: curl" in proc.stdout
    suite = ET.parse(junit).getroot()
    failed = [c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None]
    assert failed == ["rate_limit_passthrough"]


def test_gatedrill_contract_passes_the_reference_gateway(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "gatedrill", "contract", "--max-examples", "5",
                           "--junit", str(tmp_path / "c.xml")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "passed" in proc.stdout.splitlines()[-1]


def test_unknown_gateway_and_mutant_are_usage_errors() -> None:
    for argv in (["--gateway", "nope"], ["--mutant", "nope"], ["--gateway", "url:http://127.0.0.1:9", "--mutant",
                                                               "lose_stream_tail"]):
        proc = subprocess.run([sys.executable, "-m", "gatedrill", "contract", *argv], capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode == 2 and proc.stderr.startswith("gatedrill: error:"), proc.stderr


def test_a_gateway_at_a_url_is_judged_with_header_forced_faults_and_embeddings() -> None:
    """url: mode, against the OpenAI fake itself (an OpenAI-compatible surface): faults travel in the
    x-gatedrill-fault header, embeddings are exercised, and what needs our own fakes is skipped with a reason."""
    from gatedrill.fakes import FakeServer

    with FakeServer(provider="openai") as srv, start_target("url:" + srv.url + "/v1") as target:
        assert target.url == srv.url and not target.fakes
        result = run_suite(target, SuiteOptions(**QUICK))  # type: ignore[arg-type]
    assert result.ok, "\n".join(result.summary_lines())
    parts = {p.name: p for p in result.parts}
    assert parts["POST /v1/embeddings [positive]"].cases >= QUICK["max_examples"]
    assert parts["POST /v1/embeddings [negative]"].cases >= QUICK["max_examples"]
    assert parts["rate_limit_passthrough"].cases == 2 and parts["broken_stream_surfaces"].cases == 2
    assert parts["context_window_respected"].skipped and parts["conversation_continuity (stateful)"].skipped


def test_a_gateway_that_resets_connections_gets_no_answer_findings_not_a_crash() -> None:
    from gatedrill.fakes import FakeServer

    with FakeServer(provider="openai", faults=[{"fault": {"kind": "reset"}}]) as srv, \
            start_target("url:" + srv.url) as target:
        result = run_suite(target, SuiteOptions(parts=("positive", "stateful"), max_examples=5))
    parts = {p.name: p for p in result.parts}
    (chat,) = parts["POST /v1/chat/completions [positive]"].findings
    assert chat.checks == ["no answer"] and chat.curl and "/v1/chat/completions" in chat.curl
    assert parts["conversation_continuity (stateful)"].findings[0].checks == ["no answer"]
    assert not parts["GET /v1/models [positive]"].findings


def test_ctrl_c_stops_the_gateway_it_started_and_exits_130() -> None:
    import os
    import signal
    import time

    proc = subprocess.Popen([sys.executable, "-m", "gatedrill", "contract", "--max-examples", "5000",
                             "--budget", "120"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        child = None
        deadline = time.monotonic() + 20
        while child is None and time.monotonic() < deadline:
            child = next((pid for pid in _children(proc.pid) if b"gatedrill.harness.reference" in _cmdline(pid)), None)
            time.sleep(0.1)
        assert child is not None, "the reference gateway never started"
        time.sleep(1.0)  # the suite is generating cases now
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 130, proc.stderr.read() if proc.stderr else ""
        for _ in range(50):
            try:
                os.kill(child, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"the reference gateway (pid {child}) outlived gatedrill contract")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _children(ppid: int) -> list[int]:
    """Child pids of `ppid`, from /proc (no `ps` needed)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == ppid:
            out.append(int(stat.parent.name))
    return out


def _cmdline(pid: int) -> bytes:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes()
    except OSError:
        return b""


class _ChunkDroppingProxy:
    """A gateway bug no mutant has: one middle content chunk of each stream is lost, yet the stream ends properly
    (finish_reason, [DONE]). Only reassembly against the upstream's journal can see it."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.url = ""

    def __enter__(self) -> _ChunkDroppingProxy:
        import asyncio
        import threading

        from aiohttp import ClientSession, web

        async def forward(request: web.Request) -> web.Response:
            headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
            async with ClientSession() as s, s.request(request.method, self.upstream + request.path_qs,
                                                       data=await request.read(), headers=headers) as r:
                body = await r.read()
                kind = r.headers.get("content-type", "application/json")
            if kind.startswith("text/event-stream"):
                events = body.split(b"\n\n")
                content = [i for i, e in enumerate(events) if b'"delta":{"content":"' in e]
                if len(content) >= 3:
                    del events[content[1]]
                body = b"\n\n".join(events)
            return web.Response(body=body, status=r.status, content_type=kind.split(";")[0])

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", forward)
        self._loop = asyncio.new_event_loop()
        runner = web.AppRunner(app)
        self._loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        self._runner = runner
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        import asyncio

        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


def test_a_stream_missing_a_middle_chunk_fails_reassembly_alone(reference: SuiteTarget) -> None:
    with _ChunkDroppingProxy(reference.url) as proxy:
        target = SuiteTarget(name="chunk-dropping proxy", url=proxy.url, headers=reference.headers,
                             fakes=reference.fakes, skip_operations=reference.skip_operations)
        result = run_suite(target, SuiteOptions(parts=("positive",), max_examples=15, seed=3))
    assert result.failed_checks() == {"Custom check failed: `stream_reassembly`"}, "\n".join(result.summary_lines())
    (finding,) = result.findings
    assert "first difference at character" in finding.message
