"""The `gatedrill` pytest plugin, exercised the way users meet it: fixtures in a generated test suite,
run by pytest itself (in process, and in a subprocess under pytest-xdist with two workers)."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

SDK_TESTS = '''
import socket

import anthropic
import httpx
import openai

from gatedrill.fakes import intercept

USER = [{"role": "user", "content": "hi"}]
SEEN = {}


def test_fake_openai_answers_the_openai_sdk(fake_openai):
    client = openai.OpenAI(base_url=fake_openai.base_url, api_key="k", max_retries=0)
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=USER)
    assert reply.choices[0].message.content
    assert fake_openai.journal.total == 1
    assert fake_openai.url.startswith("http://127.0.0.1:")


def test_fake_openai_is_fresh_for_every_test(fake_openai):
    assert fake_openai.journal.total == 0


def test_fake_anthropic_answers_the_anthropic_sdk(fake_anthropic):
    client = anthropic.Anthropic(base_url=fake_anthropic.base_url, api_key="k", max_retries=0)
    msg = client.messages.create(model="claude-haiku-4-5", max_tokens=32, messages=USER)
    assert msg.content[0].text
    assert fake_anthropic.journal.total == 1


def test_fake_factory_starts_configured_fakes(fake_factory):
    a = fake_factory(provider="openai", name="a", faults=[{"fault": {"kind": "http_error", "status": 503}}])
    b = fake_factory({"provider": "openai", "name": "b"})
    assert a.port != b.port
    try:
        openai.OpenAI(base_url=a.base_url, api_key="k", max_retries=0).chat.completions.create(
            model="gpt-4o-mini", messages=USER)
    except openai.InternalServerError:
        pass
    else:
        raise AssertionError("the fault rule did not apply")
    SEEN["ports"] = (a.port, b.port)


def test_fake_factory_servers_are_stopped_at_teardown():
    for port in SEEN["ports"]:
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still accepts connections"


def test_intercepted_providers_answer_both_hosts(intercepted_providers):
    openai.OpenAI(api_key="k", max_retries=0).models.list()
    anthropic.Anthropic(api_key="k", max_retries=0).models.list()
    httpx.get("https://api.openai.com/v1/models", headers={"authorization": "Bearer k"})
    assert intercepted_providers.fakes["openai"].journal.total == 2
    assert intercepted_providers.fakes["anthropic"].journal.total == 1
    assert len(intercepted_providers.router.calls) == 3


@intercept("openai")
def test_intercept_decorates_a_test_and_hands_it_the_interception(intercepted):
    openai.OpenAI(api_key="k", max_retries=0).models.list()
    assert intercepted.fakes["openai"].journal.total == 1
'''

XDIST_TESTS = '''
import openai
import pytest


@pytest.mark.parametrize("i", range(6))
def test_each_worker_gets_its_own_fake(fake_openai, i):
    client = openai.OpenAI(base_url=fake_openai.base_url, api_key="k", max_retries=0)
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": str(i)}])
    assert fake_openai.journal.total == 1


@pytest.mark.parametrize("i", range(2))
def test_each_worker_intercepts_on_its_own(intercepted_providers, i):
    openai.OpenAI(api_key="k", max_retries=0).models.list()
    assert intercepted_providers.fakes["openai"].journal.total == 1
'''


def test_fixtures_work_in_a_generated_suite(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_sdk=SDK_TESTS)
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:benchmark")
    result.assert_outcomes(passed=7)


def test_fixtures_work_under_xdist_with_two_workers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_xdist=XDIST_TESTS)
    quiet = ["-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:benchmark"]  # faster workers
    result = pytester.runpytest_subprocess("-p", "xdist", "-n", "2", *quiet)
    result.assert_outcomes(passed=8)
    result.stdout.fnmatch_lines(["*2 workers*"])
