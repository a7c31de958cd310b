"""The HTML report in a real headless Chromium (the system's, driven by Playwright: the `browser` fixture in
conftest.py): it renders from file:// with no console errors and no network request, every chart draws, the
screenshot is not blank, and injected markup in recorded content stays text (no script runs, no element is
created)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from report_records import XSS, hostile_record, rollback_run

from gatedrill.harness.checks import judge
from gatedrill.harness.report import JudgedRun, judge_run, write_html

# Every chart: how many drawn shapes (path/rect/line/circle) have a non-empty box.
CHART_SHAPES = """() => [...document.querySelectorAll('svg.chart')].map(svg => ({
  id: svg.id,
  width: svg.getBoundingClientRect().width,
  drawn: [...svg.querySelectorAll('path, rect, line, circle')].filter(el => {
    const b = el.getBBox(); return b.width > 0 || b.height > 0; }).length,
  texts: svg.querySelectorAll('text').length,
}))"""

# Distinct colours in a PNG (a data URL), sampled on a grid, computed by the browser itself.
PNG_COLOURS = """async (url) => {
  const img = new Image(); img.src = url; await img.decode();
  const c = document.createElement('canvas'); c.width = img.width; c.height = img.height;
  const ctx = c.getContext('2d'); ctx.drawImage(img, 0, 0);
  const d = ctx.getImageData(0, 0, c.width, c.height).data; const seen = new Set();
  for (let y = 0; y < c.height; y += 7) for (let x = 0; x < c.width; x += 7) {
    const i = (y * c.width + x) * 4; seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]); }
  return {colours: seen.size, width: c.width, height: c.height};
}"""


def open_report(browser: Any, path: Path) -> tuple[Any, dict[str, list[str]]]:
    """Load the report from file:// and collect console errors, page errors, requests and dialogs."""
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    seen: dict[str, list[str]] = {"errors": [], "requests": [], "dialogs": []}
    page.on("console", lambda m: seen["errors"].append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    page.on("request", lambda r: seen["requests"].append(r.url))
    def on_dialog(dialog: Any) -> None:
        seen["dialogs"].append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.goto(path.as_uri(), wait_until="load")
    return page, seen


def test_the_report_renders_offline_with_every_chart_drawn(browser: Any, tmp_path: Path) -> None:
    out = write_html(judge_run(rollback_run(), ["canary_split.min_detectable=0.1"]), tmp_path / "report.html")
    page, seen = open_report(browser, out)
    charts = {c["id"]: c for c in page.evaluate(CHART_SHAPES)}
    assert set(charts) == {"traffic", "errors", "latency-ttft", "latency-total", "canary-split"}
    for c in charts.values():
        assert c["width"] > 300 and c["drawn"] >= 5 and c["texts"] >= 5, c
    assert charts["traffic"]["drawn"] >= 10  # 2 stacked areas, fault band, action and rollback lines, axes, legend
    shot = page.screenshot(full_page=True)
    assert shot[:8] == b"\x89PNG\r\n\x1a\n" and len(shot) > 50_000
    probe = browser.new_page()
    stats = probe.evaluate(PNG_COLOURS, "data:image/png;base64," + base64.b64encode(shot).decode())
    probe.close()
    assert stats["width"] == 1100 and stats["height"] > 2000 and stats["colours"] > 50, stats
    assert seen["errors"] == [] and seen["dialogs"] == []
    assert all(u.startswith(("file:", "data:")) for u in seen["requests"]), seen["requests"]
    assert "passed" in page.title() or "FAILED" in page.title()
    page.close()


def test_injected_markup_stays_text_in_the_browser(browser: Any, tmp_path: Path) -> None:
    rec = hostile_record()
    out = write_html(JudgedRun(rec, judge(rec, {"context_continuity": {"min_turns": 5}})), tmp_path / "x.html")
    page, seen = open_report(browser, out)
    assert page.evaluate("document.querySelectorAll('script, img, iframe, object').length") == 0
    assert seen["dialogs"] == [] and seen["errors"] == []
    table_text = page.inner_text("table.continuity")
    assert "<script>alert('xss')</script>" in table_text and "expected:" in table_text
    assert XSS.split("<img")[0] in page.inner_text("body")
    page.close()
