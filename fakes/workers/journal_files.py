"""A fake's journal file when several workers serve it: each worker appends to its own file next to the configured
one, and when the workers have stopped their lines are appended to the configured file, each tagged with its worker.
An entry is then identified by (`worker`, `seq`): `seq` is the arrival order within its worker."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator


def worker_journal_path(path: str, index: int) -> str:
    """Worker `index`'s file: not `*.jsonl`, so a run record never reads it as a journal of its own."""
    return f"{path}.worker{index}"


def start_worker_journals(path: str, workers: int) -> None:
    """Empty each worker's file: lines left by a fake that died before merging belong to no one now."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    for i in range(workers):
        with open(worker_journal_path(path, i), "wb"):
            pass


def merge_worker_journals(path: str, workers: int) -> int:
    """Append every worker's lines to `path` as `{"worker": I, ...the entry...}`, remove the worker files, and return
    how many lines were merged. A torn last line (a worker killed mid-write) is left out and reported on stderr."""
    merged = 0
    with open(path, "ab") as out:
        for i in range(workers):
            part = worker_journal_path(path, i)
            try:
                f = open(part, "rb")  # noqa: SIM115 - closed below
            except FileNotFoundError:
                continue
            with f:
                count = [0, 0]
                out.writelines(_tagged(f, i, count))
            merged += count[0]
            if count[1]:
                print(f"journal {path}: worker {i} left {count[1]} torn line(s), not merged", file=sys.stderr)
            os.unlink(part)
    return merged


def _tagged(lines: Iterator[bytes], worker: int, count: list[int]) -> Iterator[bytes]:
    tag = b'{"worker":%d,' % worker
    for line in lines:
        if line.startswith(b"{") and line.endswith(b"}\n") and len(line) > 3:
            count[0] += 1
            yield tag + line[1:]
        elif line.strip():
            count[1] += 1
