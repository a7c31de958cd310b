"""The change point that dates a set_weights' effect: it finds a known change in a seeded upstream sequence within a
few requests, never finds one in a constant split (over many seeds), respects the earliest possible index, and
fills the effective time of a timeline event from journals."""

from __future__ import annotations

import random

from gatedrill.harness.change_point import split_change
from gatedrill.harness.record import JournalEntry, TimelineEvent
from gatedrill.harness.scenario import SetWeights
from gatedrill.harness.weight_effect import first_picks, with_effective_times


def sequence(seed: int, n_before: int, p_before: float, n_after: int, p_after: float) -> list[str]:
    rng = random.Random(seed)
    return ([("canary" if rng.random() < p_before else "stable") for _ in range(n_before)]
            + [("canary" if rng.random() < p_after else "stable") for _ in range(n_after)])


def test_a_90_10_to_50_50_change_is_found_within_a_few_requests() -> None:
    misses = []
    for seed in range(50):
        cp, p = split_change(sequence(seed, 300, 0.1, 300, 0.5))
        assert cp is not None, (seed, p)
        misses.append(abs(cp.index - 300))
        assert cp.before["canary"] < 0.2 and cp.after["canary"] > 0.4
    assert max(misses) <= 60 and sorted(misses)[len(misses) // 2] <= 10, misses


def test_a_full_flip_is_dated_almost_exactly() -> None:
    for seed in range(20):
        cp, _ = split_change(sequence(seed, 200, 0.0, 200, 1.0))
        assert cp is not None and cp.index == 200


def test_three_upstreams_are_one_multinomial() -> None:
    rng = random.Random(3)
    labels = rng.choices("abc", [0.6, 0.3, 0.1], k=400) + rng.choices("abc", [0.1, 0.3, 0.6], k=400)
    cp, _ = split_change(labels)
    assert cp is not None and abs(cp.index - 400) <= 25


def test_no_change_is_found_in_a_constant_split() -> None:
    false = [seed for seed in range(300) if split_change(sequence(seed, 300, 0.2, 300, 0.2))[0] is not None]
    assert false == []  # the Bonferroni bound is conservative: at alpha 1e-3 none of 300 seeds may fire


def test_the_change_is_not_placed_before_its_cause_nor_on_too_little_data() -> None:
    labels = sequence(1, 200, 0.1, 200, 0.9)
    cp, _ = split_change(labels, earliest=250)
    assert cp is not None and cp.index >= 250  # constrained: the gateway cannot change before it was told
    assert split_change(["a", "b"] * 3) == (None, 1.0)
    assert split_change(["a"] * 100) == (None, 1.0)


def entry(t: float, upstream: str, cid: str) -> JournalEntry:
    return JournalEntry(arrival_wall=t, correlation_id=cid, fake=upstream)


def test_the_effective_time_is_the_first_request_after_the_change_point() -> None:
    t0 = 1_000.0
    rng = random.Random(7)
    journals: dict[str, list[JournalEntry]] = {"stable": [], "canary": []}
    for i in range(600):  # 20 req/s for 30 s; the gateway changes 90/10 -> 10/90 at 16 s (sent at 15 s)
        t = t0 + i / 20
        p = 0.1 if t - t0 < 16 else 0.9
        journals["canary" if rng.random() < p else "stable"].append(entry(t, "", f"gd1-s{i}-t1"))
    journals["stable"].append(entry(t0 + 20, "stable", "gd1-s5-t1"))  # a retry: only the first attempt counts
    journals["stable"].append(entry(t0 + 20.01, "stable", "warm-up"))
    assert len(first_picks(journals)) == 600
    ev = TimelineEvent(action="set_weights", planned_s=15, sent_s=15.0, applied_s=15.1, ok=True,
                       spec=SetWeights(action="set_weights", at_s=15, weights={"stable": 10, "canary": 90}))
    skipped = ev.model_copy(update={"ok": False, "planned_s": 25, "sent_s": 25.0})
    out = with_effective_times([ev, skipped], journals, t0)
    assert out[0].effective_s is not None and 15.5 <= out[0].effective_s <= 16.8, out[0]
    assert out[0].effective_wall == t0 + out[0].effective_s
    assert out[0].effective.startswith("change point at request") and "canary" in out[0].effective
    assert out[1].effective_s is None and out[1].effective == ""  # not applied: nothing to date


def test_a_change_the_journals_do_not_show_has_no_effective_time() -> None:
    t0 = 0.0
    rng = random.Random(8)
    journals: dict[str, list[JournalEntry]] = {"stable": [], "canary": []}
    for i in range(400):
        journals["canary" if rng.random() < 0.1 else "stable"].append(entry(t0 + i / 20, "", f"gd1-s{i}-t1"))
    ev = TimelineEvent(action="set_weights", planned_s=10, sent_s=10.0, ok=True,
                       spec=SetWeights(action="set_weights", at_s=10, weights={"canary": 50}))
    (out,) = with_effective_times([ev], journals, t0)
    assert out.effective_s is None and out.effective.startswith("no change in the split found among 400")
