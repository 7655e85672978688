"""Smoke reports: the HTML page is well-formed and self-contained, failures come first with their remedy;
the JSON has the documented shape."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from pyctl.smoke.render import render_html, render_terminal
from pyctl.smoke.report import HostReport, Outcome, SmokeReport

VOID = {"meta", "br", "hr", "img", "input", "link"}


def report() -> SmokeReport:
    def o(check: str, status: str, detail: str = "", severity: str = "critical") -> Outcome:
        return Outcome(check, severity, status, detail or f"{check} {status}", f"remedy for {check}", 0.01)

    good = HostReport("a-good", "c1", "r1", "etcd", "10.0.0.1", outcomes=[o("ssh", "pass"), o("nic-mtu", "pass")])
    bad = HostReport("z-bad", "c1", "r2", "gpu-worker", "10.0.0.2", outcomes=[
        o("ssh", "pass"), o("nic-mtu", "fail", "eth0 MTU is 1400, NetBox says 1500 <&>"),
        o("gpu-count", "fail", "host has 7 GPUs, NetBox says 8"), o("gpu-persistence", "fail", severity="warning")])
    dead = HostReport("m-dead", "c1", "r1", "etcd", "10.0.0.3", reachable=False, connect_error="unreachable",
                      outcomes=[o("ssh", "fail", "unreachable"), o("nic-mtu", "skip", "host unreachable")])
    return SmokeReport("dc9", "2026-01-01T00:00:00+00:00", 1.5, ["ssh", "nic-mtu", "gpu-count", "gpu-persistence"],
                       [good, bad, dead])


class Checker(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.external: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "link", "img") or any(k in ("src", "href") for k, _ in attrs):
            self.external.append(tag)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_is_well_formed_and_self_contained() -> None:
    html = render_html(report())
    assert html.startswith("<!DOCTYPE html>")
    p = Checker()
    p.feed(html)
    p.close()
    assert p.errors == []
    assert p.stack == []
    assert p.external == []  # no scripts, stylesheets or images from elsewhere
    assert "<style>" in html


def test_html_has_the_page_shell_drift_shares() -> None:
    from pyctl import html_page
    from pyctl.smoke import render

    html = render_html(report())
    assert html.startswith("\n".join(html_page.head(f"pyctl smoke {report().dc}", render.CSS)))
    assert html_page.BASE_CSS in html
    assert html.rstrip().endswith(html_page.END)


def test_html_failures_first_with_remedy_and_escaped() -> None:
    html = render_html(report())
    assert html.index("Failures (4)") < html.index("Racks × hosts × checks")
    assert html.index("critical") < html.index(">warning<")  # critical failures before warnings
    assert "remedy for nic-mtu" in html
    assert "NetBox says 1500 &lt;&amp;&gt;" in html
    # the rack with a failing host comes first in the grid, the failing host first in its rack
    grid = html[html.index('class="grid"'):]
    assert grid.index("m-dead") < grid.index("a-good")
    r = report()
    r.hosts = r.hosts[:2]
    grid = render_html(r)[render_html(r).index('class="grid"'):]
    assert grid.index("rack r2") < grid.index("rack r1")
    assert "Unreachable:</b> m-dead" in html


def test_terminal_summary() -> None:
    text = render_terminal(report())
    assert "3 hosts" in text
    assert "FAILED" in text
    assert "remedy: remedy for gpu-count" in text
    assert "unreachable: m-dead" in text


def test_json_shape() -> None:
    doc = json.loads(json.dumps(report().to_dict()))
    assert doc["exit_code"] == 2
    assert doc["ok"] is False
    assert doc["counts"] == {"fail": 4, "error": 0, "pass": 3, "skip": 1}
    assert doc["unreachable"] == ["m-dead"]
    assert [f["severity"] for f in doc["failures"]] == ["critical"] * 3 + ["warning"]
    assert doc["failures"][-1]["severity"] == "warning"
    h = doc["hosts"][1]
    assert set(h) == {"name", "cluster", "rack", "role", "address", "reachable", "connect_error", "failed", "checks"}
    assert set(h["checks"][1]) >= {"check", "severity", "status", "detail", "remedy", "seconds"}
    assert doc["hosts"][0]["checks"][0]["remedy"] == ""  # remedies only on failures


def test_only_unreachable_is_exit_4() -> None:
    r = report()
    r.hosts = [r.hosts[0], r.hosts[2]]
    assert int(r.exit_code()) == 4
    assert "hosts unreachable" in render_html(r)


@pytest.mark.slow
def test_html_renders_in_headless_chromium(tmp_path: Path) -> None:
    """CI dependency: the Debian package chromium (apt-get install -y chromium)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium not installed (apt-get install -y chromium): cannot prove the HTML renders")
    page = tmp_path / "report.html"
    page.write_text(render_html(report()), encoding="utf-8")
    shot = tmp_path / "shot.png"
    proc = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,900",
                           f"--screenshot={shot}", page.as_uri()],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1280, 900)
    assert len(data) > 10_000  # a rendered page (tables, colours), not a blank one
