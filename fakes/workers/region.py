"""The memory a fake's worker processes share: its fault rules' counters and coin position, and its rate-limit buckets.

One memfd, created by the process that starts the workers and mapped by each of them, guarded by one lock: a POSIX
record lock (`lockf`) between processes and a thread lock within one (a worker decides large requests on a helper
thread). Holding it costs two system calls, paid only by requests that meet a fault rule or a rate limit.

Layout (native 64-bit words): fault generation, coin draws, bucket-table generation, a spare word, then one counter per
fault rule (`MAX_RULES`), then the bucket slots (`MAX_BUCKETS`, each: used, limit, level, stamp, key digest).
"""

from __future__ import annotations

import fcntl
import hashlib
import mmap
import os
import struct
import threading
from types import TracebackType

MAX_RULES = 1024
MAX_BUCKETS = 1024
_HEADER_WORDS = 4
_FAULT_GEN, _DRAWS, _TABLE_GEN = 0, 1, 2
_SLOT = struct.Struct("=qqdd16s")  # used, limit, level, stamp, digest of (model, kind)
_STATE = struct.Struct("=qqdd")  # a slot without its digest: what a check reads and writes
_SLOTS_AT = 8 * (_HEADER_WORDS + MAX_RULES)
SIZE = _SLOTS_AT + _SLOT.size * MAX_BUCKETS


class RegionLock:
    """Exclusive across processes (lockf) and across the threads of one process (a thread lock)."""

    __slots__ = ("_fd", "_thread")

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._thread = threading.Lock()

    def __enter__(self) -> None:
        self._thread.acquire()
        try:
            fcntl.lockf(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._thread.release()
            raise

    def __exit__(self, t: type[BaseException] | None, v: BaseException | None, tb: TracebackType | None) -> None:
        try:
            fcntl.lockf(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread.release()


class SharedRegion:
    """A mapped view of the shared memory; every method but `lock` expects the caller to hold `lock`."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._map = mmap.mmap(fd, SIZE)
        self._words = memoryview(self._map).cast("q")
        self.lock = RegionLock(fd)
        self._slots: dict[tuple[str, str], int] = {}  # this process's index of the bucket table, for `_slots_gen`
        self._slots_gen = -1

    @classmethod
    def create(cls) -> SharedRegion:
        """New, zeroed shared memory (fault generation 0, no buckets); its fd is passed to each worker."""
        fd = os.memfd_create("gatedrill-fake-workers", 0)
        os.ftruncate(fd, SIZE)
        return cls(fd)

    # -- fault rules --------------------------------------------------------------------------------------------

    @property
    def fault_generation(self) -> int:
        return self._words[_FAULT_GEN]

    def install_faults(self, generation: int) -> None:
        """Start the counters of fault-rule list `generation` at zero; plans of older generations stop sharing."""
        w = self._words
        w[_FAULT_GEN] = generation
        w[_DRAWS] = 0
        w[_HEADER_WORDS:_HEADER_WORDS + MAX_RULES] = memoryview(bytes(8 * MAX_RULES)).cast("q")

    def count_match(self, rule: int) -> int:
        """One more request matched rule `rule`: its count across the workers."""
        i = _HEADER_WORDS + rule
        self._words[i] += 1
        return self._words[i]

    def next_draw(self) -> int:
        """The index (from 0) of the coin draw the caller takes next, across the workers."""
        k = self._words[_DRAWS]
        self._words[_DRAWS] = k + 1
        return k

    # -- rate-limit buckets -------------------------------------------------------------------------------------

    def load_bucket(self, model: str, kind: str) -> tuple[int, float, float] | None:
        """(limit, level, stamp) of the bucket, or None if no worker has made it yet."""
        slot = self._slot(model, kind, create=False)
        if slot is None:
            return None
        _used, limit, level, stamp = _STATE.unpack_from(self._map, _SLOTS_AT + slot * _SLOT.size)
        return limit, level, stamp

    def store_bucket(self, model: str, kind: str, limit: int, level: float, stamp: float) -> None:
        slot = self._slot(model, kind, create=True)
        assert slot is not None
        _STATE.pack_into(self._map, _SLOTS_AT + slot * _SLOT.size, 1, limit, level, stamp)

    def clear_buckets(self) -> None:
        """Forget every bucket (a reset): each starts full again when next used."""
        self._map[_SLOTS_AT:SIZE] = bytes(SIZE - _SLOTS_AT)
        self._words[_TABLE_GEN] += 1

    def _slot(self, model: str, kind: str, create: bool) -> int | None:
        if self._slots_gen != self._words[_TABLE_GEN]:
            self._slots = {}
            self._slots_gen = self._words[_TABLE_GEN]
        slot = self._slots.get((model, kind))
        if slot is not None:
            return slot
        key = _digest(model, kind)
        free = None
        for i in range(MAX_BUCKETS):
            used, _l, _v, _s, digest = _SLOT.unpack_from(self._map, _SLOTS_AT + i * _SLOT.size)
            if not used:
                free = i
                break
            if digest == key:
                self._slots[(model, kind)] = i
                return i
        if not create:
            return None
        if free is None:
            raise RuntimeError(f"more than {MAX_BUCKETS} rate-limit buckets in one fake's workers")
        _SLOT.pack_into(self._map, _SLOTS_AT + free * _SLOT.size, 1, 0, 0.0, 0.0, key)  # claimed; filled by the store
        self._slots[(model, kind)] = free
        return free


def _digest(model: str, kind: str) -> bytes:
    return hashlib.blake2b(f"{kind}\0{model}".encode(), digest_size=16).digest()
