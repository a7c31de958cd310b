"""The `gatedrill` entry point: the harness's commands plus the contract suite's, assembled above both packages
so neither imports the other's command line (contracts builds on the harness; the harness knows no contracts)."""

from __future__ import annotations

from gatedrill.contracts.cli import contract_cmd
from gatedrill.harness.cli import main

main.add_command(contract_cmd)

__all__ = ["main"]
