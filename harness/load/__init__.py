"""Load for drills: an open-model arrival schedule (or closed concurrency) driven by Locust in its own process.

`run_load` (or `LoadRun`) starts the generator in a worker subprocess (or, distributed, a Locust master there and
its workers: `master`, `node`, `distribution`), relays its progress and returns a
`LoadResult`; the client records it writes (`ClientRecord`, JSONL) join the fakes' journals on the
correlation id. Nothing here imports gevent or Locust: only the worker process does (`driver`, `worker`).
"""

from .conversation import Request, Session, prompt_text
from .distribution import Share, merge_summaries, merge_tallies, session_owner
from .events import event_line
from .histogram import LatencyHistogram
from .progress import PlainProgress, Progress, RichProgress, console_progress
from .records import ClientRecord, RecordWriter, iter_records, read_records
from .reply import Reply, StreamReader, parse_completion
from .run import LoadResult, LoadRun, judge_generator, run_load
from .schedule import Segment, arrival_list, arrival_times, expected_arrivals, rate_at, segments
from .spec import (
    Arrivals,
    Constant,
    LoadSpec,
    Poisson,
    Ramp,
    RequestMix,
    Soak,
    Spike,
    Step,
    Steps,
)
from .summary import Tally

__all__ = [
    "Arrivals",
    "ClientRecord",
    "Constant",
    "LatencyHistogram",
    "LoadResult",
    "LoadRun",
    "LoadSpec",
    "PlainProgress",
    "Poisson",
    "Progress",
    "Ramp",
    "RecordWriter",
    "Reply",
    "Request",
    "RequestMix",
    "RichProgress",
    "Segment",
    "Session",
    "Share",
    "Soak",
    "Spike",
    "Step",
    "Steps",
    "StreamReader",
    "Tally",
    "arrival_list",
    "arrival_times",
    "console_progress",
    "event_line",
    "expected_arrivals",
    "iter_records",
    "judge_generator",
    "merge_summaries",
    "merge_tallies",
    "parse_completion",
    "prompt_text",
    "rate_at",
    "read_records",
    "run_load",
    "segments",
    "session_owner",
]
