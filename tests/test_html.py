"""``-o html`` rendered by a real headless Chromium: the break is marked, nothing is cut off or
overflows at 1280 and 400 px, nothing is fetched; a screenshot of each width is kept."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from svcdoctor.testing.browser import Browser, available
from tests.conftest import ROOT, SCENARIOS, require, run_cli

DEMO = str(ROOT / "svcdoctor" / "data" / "demo-snapshot.yaml")

#: What the page looks like to a reader: the visible path map's hops, what overflows, what was fetched.
INSPECT = """
const width = document.documentElement.clientWidth;
const visible = e => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden';
const maps = [...document.querySelectorAll('svg.map')].filter(visible);
const hops = maps.length ? [...maps[0].querySelectorAll('.hop')].map(h => [h.dataset.hop, h.dataset.state]) : [];
const overflowing = [];
for (const e of document.body.querySelectorAll('*')) {
  if (!visible(e)) continue;
  const r = e.getBoundingClientRect();
  if (r.right > width + 1 || r.left < -1) overflowing.push(e.tagName + '.' + e.className.baseVal ?? e.className);
  const boxed = ['PRE', 'TD', 'DIV'].includes(e.tagName);
  // A box that scrolls (a command, kept on one line) cuts nothing off: the reader scrolls it.
  const scrolls = ['auto', 'scroll'].includes(getComputedStyle(e).overflowX);
  if (boxed && !scrolls && e.scrollWidth > e.clientWidth + 1) overflowing.push('cut ' + e.tagName);
}
return {width: width, pageWidth: document.documentElement.scrollWidth, maps: maps.length, hops: hops,
        overflowing: overflowing, fetched: performance.getEntriesByType('resource').length,
        root: document.querySelector('[data-root-cause]')?.dataset.rootCause ?? null,
        copyButtons: document.querySelectorAll('button.copy').length,
        verdict: document.querySelector('[data-verdict]').dataset.verdict};
"""


def _artifacts(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("SVCDOCTOR_ARTIFACTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser() -> Any:
    require(available(), "chromium and chromedriver are not installed (Debian: chromium chromium-driver)")
    with Browser() as session:
        yield session


def _page(tmp_path: Path, name: str, *args: str) -> Path:
    result = run_cli(*args, "-o", "html", "--fail-on", "never")
    assert result.exit_code == 0, result.stderr
    path = tmp_path / f"{name}.html"
    path.write_text(result.stdout)
    return path


@pytest.mark.parametrize("width", [1280, 400])
def test_the_break_is_marked_and_nothing_overflows(browser: Browser, tmp_path: Path, width: int) -> None:
    page = _page(tmp_path, "demo", "check", "backend", "-n", "shop", "--snapshot", DEMO,
                 "--from", "shop/frontend-ddcj28l7m-jsshd")
    browser.size(width, 1000)
    browser.open(page)
    seen = browser.run(INSPECT)
    browser.screenshot(_artifacts(tmp_path) / f"html-report-{width}.png")
    assert seen["width"] <= width and seen["pageWidth"] <= seen["width"], seen
    assert seen["overflowing"] == [], seen["overflowing"]
    assert seen["maps"] == 1  # across at 1280, down at 400
    assert dict(seen["hops"])["service"] == "break"
    assert [hop for hop, state in seen["hops"] if state == "break"] == ["service"]
    assert seen["root"] == "SD301" and seen["verdict"] == "unreachable" and seen["copyButtons"] >= 2
    assert seen["fetched"] == 0


#: A name as long as Kubernetes allows a Service's (63 characters), unbreakable by spaces or hyphens alone.
LONG_NAME = "backend" + "x" * 56


def _long_names_snapshot(tmp_path: Path) -> str:
    """The demo with its Service, Deployment and labels renamed to ``LONG_NAME``."""
    path = tmp_path / "long-names.yaml"
    path.write_text(Path(DEMO).read_text().replace("backend", LONG_NAME))
    return str(path)


@pytest.mark.parametrize("case", ["unknown-verdict", "long-names"])
@pytest.mark.parametrize("width", [1280, 400])
def test_long_tokens_wrap_and_nothing_overflows(browser: Browser, tmp_path: Path, case: str, width: int) -> None:
    # main: at 400 px the unknown verdict's "forbidden: User system:serviceaccount:…" ran 343 px into a 340 px box.
    if case == "unknown-verdict":
        folder = SCENARIOS / "networkpolicies-forbidden"
        import yaml

        args = [str(a) for a in yaml.safe_load((folder / "scenario.yaml").read_text())["args"]]
        # The refusal names the reader as the API server does: one token as long as its service account's names.
        snapshot = tmp_path / "forbidden.yaml"
        snapshot.write_text((folder / "snapshot.yaml").read_text().replace(
            "system:serviceaccount:ci:reader", "system:serviceaccount:svcdoctor:svcdoctor-readonly-reader"))
        page = _page(tmp_path, case, *args, "--snapshot", str(snapshot), "--accept-unknown")
    else:
        page = _page(tmp_path, case, "check", LONG_NAME, "-n", "shop", "--snapshot", _long_names_snapshot(tmp_path),
                     "--from", "shop/frontend-ddcj28l7m-jsshd", "-v")
    browser.size(width, 1000)
    browser.open(page)
    seen = browser.run(INSPECT)
    browser.screenshot(_artifacts(tmp_path) / f"html-{case}-{width}.png")
    assert seen["verdict"] == ("unknown" if case == "unknown-verdict" else "unreachable")
    assert seen["width"] <= width and seen["pageWidth"] <= seen["width"], seen
    assert seen["overflowing"] == [], seen["overflowing"]
    # Commands stay whole on one line, scrolling in their own box rather than wrapping.
    assert browser.run("return [...document.querySelectorAll('.cmd pre')].every(p => "
                       "getComputedStyle(p).whiteSpace === 'pre' && getComputedStyle(p).overflowX === 'auto')")


def test_a_kube_proxy_break_is_on_the_rules_hop(browser: Browser, tmp_path: Path) -> None:
    folder = SCENARIOS / "cluster-ip-rules-missing"
    import yaml

    args = [str(a) for a in yaml.safe_load((folder / "scenario.yaml").read_text())["args"]]
    page = _page(tmp_path, "rules", *args, "--snapshot", str(folder / "snapshot.yaml"))
    browser.size(1280, 1000)
    browser.open(page)
    seen = browser.run(INSPECT)
    assert [hop for hop, state in seen["hops"] if state == "break"] == ["rules"], seen["hops"]
    assert seen["overflowing"] == []


def test_a_scan_page_renders(browser: Browser, tmp_path: Path) -> None:
    page = _page(tmp_path, "scan", "scan", "-A", "--snapshot", DEMO)
    browser.size(400, 1000)
    browser.open(page)
    seen = browser.run(INSPECT)
    assert seen["overflowing"] == [] and seen["fetched"] == 0 and seen["maps"] == 1
    # Sections are laid out only when scrolled near: a 5,000-Service page opens in seconds, not a minute.
    assert browser.run("return [...document.querySelectorAll('section')].map(s => "
                       "getComputedStyle(s).contentVisibility)") == ["auto"]


def test_the_page_is_self_contained() -> None:
    text = run_cli("check", "backend", "-n", "shop", "--snapshot", DEMO, "-o", "html").stdout
    assert text.startswith("<!DOCTYPE html>")
    assert re.findall(r"(?:src|href)=\"(?!#)", text) == []
    assert re.findall(r"https?://(?!www\.w3\.org/2000/svg)", text) == []
    assert "<script>" in text and "<style>" in text


def test_text_from_the_cluster_is_escaped(tmp_path: Path) -> None:
    from svcdoctor.findings import Finding, Severity, Target
    from svcdoctor.render import RenderOptions, render
    from svcdoctor.report import Report

    finding = Finding("SD301", "selector-matches-no-pods", Severity.ERROR, 3, "title",
                      '<img src=x onerror=alert(1)> \x1b[31mred', next=("kubectl get pods '<b>'",))
    page = render(Report(Target("shop", "web"), "unreachable", (finding,), ()), "html", RenderOptions())
    assert "<img" not in page and "&lt;img src=x" in page and "\x1b" not in page and "&lt;b&gt;" in page


def test_the_html_benchmark_runs_small(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """benchmarks/html_bench.py at 50 Services: the scan and each rendering are measured apart."""
    from benchmarks.html_bench import main

    main(["--services", "50", "--directory", str(tmp_path), "--repeat", "1", "--no-browser"])
    out = capsys.readouterr().out
    assert "load + scan -A (50 Services)" in out
    assert "-o html (10 Services with a section)" in out and "-o html, every one of 50 with a section" in out
    assert "-o html beyond the scan: " in out
