"""Tests whose third-party part (a Debian package, a gateway, an extra) is missing: skipped on a developer's machine,
failed where everything must run (CI, and `dev/test`, which installs it all), so nothing passes by skipping there."""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

F = TypeVar("F", bound=Callable[..., Any])
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")  # the browser tests' (Playwright drives it)


def strict() -> bool:
    """True where a missing dependency is an error: CI, or GATEDRILL_REQUIRE_ALL (set by dev/test)."""
    return bool(os.environ.get("CI") or os.environ.get("GATEDRILL_REQUIRE_ALL"))


def need(ok: bool, why: str) -> None:
    """Go on if `ok`; otherwise skip, or fail with `why` where everything must run."""
    if ok:
        return
    if strict():
        pytest.fail(f"{why} (dev/test installs it; CI runs dev/test)", pytrace=False)
    pytest.skip(why)


def requires(ok: bool, why: str) -> Callable[[F], F]:
    """`need` as a test decorator."""

    def deco(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            need(ok, why)
            return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return deco
