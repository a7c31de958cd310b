"""Gateway saturation, found from a run record: did the gateway under test keep up with the offered rate?

From the gateway arm's client records, over the load's duration:
- offered rate: arrivals per second the schedule sent (intended times);
- achieved rate: answers completed per second, over the load's second half (a saturated server's throughput);
  an error answer counts (the drill's injected faults make some), a client timeout or the run's end does not;
- in-flight growth: requests in flight at the end of the load against the first quarter's median (a queue that
  only grows is a server that cannot drain it);
- queueing delay: the median service time (sent to end) of the last quarter against the first quarter's.
The gateway is *saturated* when it completed under 90% of the offered rate while its queue grew, or when its queue
grew by more than max(10, a quarter of the offered rate) and its median service time at least doubled. Its
saturation rate is then the achieved rate: "the gateway saturated at about 28 req/s (offered 40 req/s); overhead
above that rate is queueing". Little's law ties the two: a queue growing at (offered - achieved) per second adds
that backlog divided by the achieved rate to every later request's wait (Little, 1961).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass
from typing import Any

from .record import RunRecord

MIN_ACHIEVED_SHARE = 0.9
LATENCY_GROWTH = 2.0
UNANSWERED = ("timeout", "aborted")  # client error classes that are not an answer


@dataclass
class Saturation:
    saturated: bool
    offered_rate: float
    achieved_rate: float
    in_flight_start: float
    in_flight_end: int
    service_ms_start: float | None
    service_ms_end: float | None
    gateway: str = ""  # its kind (litellm, reference, ...), when the record names it

    def sentence(self) -> str:
        who = f"the {self.gateway} gateway" if self.gateway else "the gateway"
        if self.saturated:
            return (f"{who} saturated at about {self.achieved_rate:.0f} req/s (offered "
                    f"{self.offered_rate:.0f} req/s; in flight grew from {self.in_flight_start:.0f} to "
                    f"{self.in_flight_end}); overhead above that rate is queueing")
        return (f"{who} kept up: {self.achieved_rate:.1f} of {self.offered_rate:.1f} req/s "
                "offered")


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def gateway_saturation(record: RunRecord) -> Saturation | None:
    """The gateway's saturation over a run, or None when it cannot be told (no load start, closed-model load)."""
    start = record.meta.load_start_wall
    if start is None or record.scenario.load.mode != "open":
        return None
    t0, dur = start, record.scenario.duration_s
    clients = [(c, c.intended_s) for c in record.load_clients() if c.intended_s is not None]
    if len(clients) < 20 or dur <= 0:
        return None
    offered = sum(1 for _, intended in clients if 0 <= intended - t0 < dur) / dur
    half = dur / 2
    done = sum(1 for c, _ in clients if half <= (c.end_s or math.inf) - t0 < dur and c.error_class not in UNANSWERED)
    achieved = done / (dur - half)
    spans = [((c.sent_s or intended) - t0, (c.end_s or math.inf) - t0) for c, intended in clients]

    def in_flight(t: float) -> int:
        return sum(1 for a, b in spans if a <= t < b)

    quarter = dur / 4
    first = [in_flight(quarter * i / 8) for i in range(1, 9)]
    start_q = statistics.median(first)
    end_q = in_flight(dur - 1e-3)

    def service(a: float, b: float) -> float | None:
        return _median([(c.end_s - c.sent_s) * 1000 for c, _ in clients
                        if c.end_s and c.sent_s and not c.error_class and a <= c.sent_s - t0 < b])

    s0, s1 = service(0, quarter), service(dur - quarter, dur)
    grew = end_q > start_q
    slowed = s0 is not None and s1 is not None and s0 > 0 and s1 >= LATENCY_GROWTH * s0
    saturated = (achieved < MIN_ACHIEVED_SHARE * offered and grew) or (
        end_q - start_q > max(10.0, offered / 4) and slowed)
    kind = record.meta.gateway.kind or ""
    return Saturation(saturated, round(offered, 2), round(achieved, 2), start_q, end_q,
                      None if s0 is None else round(s0, 2), None if s1 is None else round(s1, 2), kind)


def saturation_figures(record: RunRecord) -> dict[str, Any] | None:
    sat = gateway_saturation(record)
    return None if sat is None else asdict(sat) | {"sentence": sat.sentence()}
