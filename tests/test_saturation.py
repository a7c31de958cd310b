"""Gateway saturation is found and named: a gateway that cannot keep up with the offered rate (its queue grows,
it completes less than offered) is named with its saturation rate; one that keeps up is not."""

from __future__ import annotations

import random
from pathlib import Path

from serial_gateway import serial_gateway

from gatedrill.harness.checks import judge
from gatedrill.harness.checks.synthetic import client_record, record_of, scenario_with
from gatedrill.harness.record import RunRecord
from gatedrill.harness.runner import RunOptions, run
from gatedrill.harness.saturation import gateway_saturation


def queue_record(rate: float, capacity: float, seconds: float = 20.0):  # type: ignore[no-untyped-def]
    """Poisson arrivals at `rate` into one server of `capacity` req/s (FIFO): each ends when the server is free."""
    rng = random.Random(7)
    scenario = scenario_with({"stable": 1}, duration_s=seconds)
    clients, t, free = [], 0.0, 0.0
    while True:
        t += rng.expovariate(rate)
        if t >= seconds:
            break
        free = max(free, t) + 1 / capacity
        clients.append(client_record(f"gd1-s{len(clients)}-t1", t, upstream="stable", service_s=free - t))
    return record_of(scenario, clients, {})


def test_a_server_below_the_offered_rate_is_saturated_at_its_capacity() -> None:
    sat = gateway_saturation(queue_record(rate=40, capacity=28))
    assert sat is not None and sat.saturated
    assert 26 <= sat.achieved_rate <= 30
    assert sat.sentence().startswith("the gateway saturated at about 28 req/s (offered 4")


def test_a_server_with_headroom_keeps_up() -> None:
    sat = gateway_saturation(queue_record(rate=20, capacity=60))
    assert sat is not None and not sat.saturated


def test_error_answers_are_throughput_and_do_not_read_as_saturation() -> None:
    """streaming-integrity's standing faults make about 11% of answers errors; the gateway still answered every
    request at the offered rate, so it kept up (it was named saturated at 18 of 20 req/s before errors counted)."""
    record = queue_record(rate=20, capacity=60)
    for c in record.clients[::7]:
        c.status, c.error_class = 200, "stream_error"
    sat = gateway_saturation(record)
    assert sat is not None and not sat.saturated, sat.sentence()
    assert sat.achieved_rate >= 0.9 * sat.offered_rate
    for c in record.clients[::7]:  # timeouts are not answers
        c.status, c.error_class = 0, "timeout"
    assert gateway_saturation(record).achieved_rate < sat.achieved_rate  # type: ignore[union-attr]


def test_a_real_serial_gateway_is_named_saturated_in_the_overhead_verdict(tmp_path: Path) -> None:
    with serial_gateway(service_s=0.05) as url:  # 20 req/s at most, against 40 req/s offered
        run("canary-split", RunOptions(gateway=f"url:{url}", out=tmp_path / "run", scale=0.2))
    record = RunRecord.load(tmp_path / "run")
    sat = gateway_saturation(record)
    assert sat is not None and sat.saturated, sat
    assert 14 <= sat.achieved_rate <= 22
    overhead = next(v for v in judge(record) if v.check == "overhead")
    assert overhead.figures["gateway_saturation"]["saturated"] is True
    assert "saturated at about" in overhead.figures["gateway_saturation"]["sentence"]
