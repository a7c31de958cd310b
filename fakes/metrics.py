"""Prometheus metrics for a fake, counted in plain dicts on the hot path and exposed at scrape time.

Every label takes a bounded set of values: the model label is a configured model id or `other`, so clients
inventing model names cannot grow memory, series or scrape time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

if TYPE_CHECKING:
    from .config import FakeConfig


OTHER_MODEL = "other"  # the model label of every requested model the fake does not serve
_STATUS = {code: str(code) for code in range(600)}  # status labels, made once


class FakeMetrics:
    def __init__(self) -> None:
        self.requests: Counter[tuple[str, str, str, str]] = Counter()
        self.tokens: Counter[tuple[str, str]] = Counter()

    def count(self, endpoint: str, model: str, status: int, fault: str | None, tokens_in: int, tokens_out: int) -> None:
        key = (endpoint, model, _STATUS.get(status) or str(status), fault or "")
        requests = self.requests
        requests[key] = requests.get(key, 0) + 1
        if tokens_in:
            tokens = self.tokens
            key2 = (model, "in")
            tokens[key2] = tokens.get(key2, 0) + tokens_in
        if tokens_out:
            tokens = self.tokens
            key2 = (model, "out")
            tokens[key2] = tokens.get(key2, 0) + tokens_out

    def clear(self) -> None:
        self.requests.clear()
        self.tokens.clear()


class JournalFigures(Protocol):
    """What the metrics and the control API's health read of a journal: its counts (`Journal.stats`)."""

    def stats(self) -> dict[str, int]: ...


class MetricsSource(Protocol):
    """What the metrics read of a fake: its name, its counters and its journal's figures (not the whole core)."""

    @property
    def config(self) -> FakeConfig: ...

    @property
    def metrics(self) -> FakeMetrics: ...

    @property
    def journal(self) -> JournalFigures: ...


class _FakeCollector(Collector):
    def __init__(self, fake: MetricsSource) -> None:
        self.fake = fake

    def collect(self) -> Iterator[Metric]:
        name = self.fake.config.name
        req = CounterMetricFamily("gatedrill_fake_requests", "Requests answered by the fake",
                                  labels=["fake", "endpoint", "model", "status", "fault"])
        for (endpoint, model, status, fault), n in list(self.fake.metrics.requests.items()):
            req.add_metric([name, endpoint, model, status, fault], n)
        yield req
        tok = CounterMetricFamily("gatedrill_fake_tokens", "Tokens counted by the fake",
                                  labels=["fake", "model", "direction"])
        for (model, direction), n in list(self.fake.metrics.tokens.items()):
            tok.add_metric([name, model, direction], n)
        yield tok
        stats = self.fake.journal.stats()
        j = GaugeMetricFamily("gatedrill_fake_journal", "Journal entry counts", labels=["fake", "kind"])
        for k, v in stats.items():
            j.add_metric([name, k], v)
        yield j


def render_metrics(fake: MetricsSource) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_FakeCollector(fake))
    return generate_latest(registry)
