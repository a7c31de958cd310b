"""Where the same-run control arm's records live in a run record (`harness.control_arm` says what the arm is).

They stay apart from the gateway arm's files, so no check counts them by accident: `control/clients.jsonl`
(`ClientRecord`s, correlation ids `RUN-ctl-sN-tK`) and `control/journal.jsonl` (the control fake's
`JournalEntry`s). `RunRecord.control_clients` and `RunRecord.control_journal` read them.
"""

from __future__ import annotations

CONTROL = "control"  # the control fake's name (it is not an upstream of the drill)
CONTROL_DIR = "control"
CONTROL_CLIENTS = f"{CONTROL_DIR}/clients.jsonl"
CONTROL_JOURNAL = f"{CONTROL_DIR}/journal.jsonl"
