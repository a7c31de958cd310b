"""A fake served by several worker processes on one port (SO_REUSEPORT) that behaves as one fake: one journal, one
control plane, shared fault counters and rate limits. The process that starts the workers is the harness's
(`gatedrill.harness.fake_workers`); this package holds the workers' side and the shared parts. docs/fakes.md,
"Several worker processes", states the rules."""

from .channel import Channel, ChannelClosed
from .group import GroupControl, GroupError
from .journal_files import merge_worker_journals, start_worker_journals, worker_journal_path
from .region import MAX_BUCKETS, MAX_RULES, SharedRegion
from .shared_state import SharedFaultPlan, SharedRateLimiter, WorkerState

__all__ = [
    "MAX_BUCKETS",
    "MAX_RULES",
    "Channel",
    "ChannelClosed",
    "GroupControl",
    "GroupError",
    "SharedFaultPlan",
    "SharedRateLimiter",
    "SharedRegion",
    "WorkerState",
    "merge_worker_journals",
    "start_worker_journals",
    "worker_journal_path",
]
