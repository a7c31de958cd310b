"""`gatedrill fake serve` as a user runs it: a real process, URLs printed, Ctrl-C stops it cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

CMD = [sys.executable, "-m", "gatedrill"]


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*CMD, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


@pytest.fixture()
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for p in started:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def read_urls(p: subprocess.Popen[str], n: int) -> dict[str, str]:
    urls = {}
    assert p.stdout is not None
    for _ in range(n):
        line = p.stdout.readline()
        assert line, p.stderr.read() if p.stderr else "no output"
        name, _provider, url = line.strip().split("\t")
        urls[name] = url
    return urls


def test_serves_several_named_fakes_from_one_file_and_stops_on_sigint(tmp_path: Path, procs: list) -> None:
    cfg = tmp_path / "fakes.yaml"
    cfg.write_text("fakes:\n  - {name: primary, provider: openai}\n  - {name: canary, provider: openai, seed: 3}\n")
    journal = tmp_path / "journal.jsonl"
    p = start("fake", "serve", "--config", str(cfg), "--journal", str(journal))
    procs.append(p)
    urls = read_urls(p, 2)
    assert set(urls) == {"primary", "canary"} and urls["primary"] != urls["canary"]
    for url in urls.values():
        assert url.startswith("http://127.0.0.1:")
        r = httpx.post(url + "/v1/chat/completions", headers={"authorization": "Bearer sk-live-abc"},
                       json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 200
    p.send_signal(signal.SIGINT)
    assert p.wait(timeout=10) == 0
    lines = journal.read_text().splitlines()
    assert len(lines) == 2 and "sk-live-abc" not in journal.read_text()


def test_a_busy_port_is_one_clear_line_and_exit_2(procs: list) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        p = start("fake", "serve", "openai", "--port", str(port))
        procs.append(p)
        _out, err = p.communicate(timeout=20)
    assert p.returncode == 2
    assert err.strip().splitlines() == [f"gatedrill: error: fake 'openai': port {port} on 127.0.0.1 is in use; "
                                        "pick another port or use 0 for a free one"]


def test_a_bad_config_names_the_key_without_a_traceback(tmp_path: Path, procs: list) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("provider: openai\nlatency: {ttft: 5}\n")
    p = start("fake", "serve", "--config", str(cfg))
    procs.append(p)
    _, err = p.communicate(timeout=20)
    assert p.returncode == 2
    assert "latency.ttft: unknown key" in err and "Traceback" not in err


def test_version_prints_the_package_version() -> None:
    out = subprocess.run([*CMD, "version"], capture_output=True, text=True, check=True).stdout.strip()
    assert out[0].isdigit()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_new_dialects_serve_their_official_sdks_from_the_cli(procs: list) -> None:
    """`gatedrill fake serve gemini|azure|bedrock --port N`, each answered through its own SDK, unchanged."""
    import boto3
    import openai
    from botocore.config import Config
    from google import genai
    from google.genai import types

    urls = {}
    for provider in ("gemini", "azure", "bedrock"):
        port = _free_port()
        p = start("fake", "serve", provider, "--port", str(port))
        procs.append(p)
        urls[provider] = read_urls(p, 1)[provider]
        assert urls[provider] == f"http://127.0.0.1:{port}"
    g = genai.Client(api_key="gk", http_options=types.HttpOptions(base_url=urls["gemini"]))
    assert g.models.generate_content(model="gemini-2.5-flash", contents="hi").text
    az = openai.AzureOpenAI(azure_endpoint=urls["azure"], api_key="az", api_version="2024-10-21", max_retries=0)
    assert az.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]).choices
    br = boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url=urls["bedrock"],
                      aws_access_key_id="AKIAGATEDRILLTEST01", aws_secret_access_key="s",
                      config=Config(retries={"max_attempts": 1}))
    out = br.converse(modelId="anthropic.claude-3-5-haiku-20241022-v1:0",
                      messages=[{"role": "user", "content": [{"text": "hi"}]}])
    assert out["stopReason"] == "end_turn"
    for p in procs:
        p.send_signal(signal.SIGINT)
        assert p.wait(timeout=10) == 0
