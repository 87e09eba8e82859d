"""The HTML report in a real headless Chromium (Debian's `chromium`, installed here with
apt-get when missing): the page's own script applies a filter read from the URL fragment,
the dumped DOM must show exactly the chosen rows, and a screenshot must be a non-empty PNG.
Skipped, with the reason, only where Chromium cannot be installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import pytest

from conftest import document, result, run_script, write
from test_report import parse

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def chromium() -> str:
    path = shutil.which("chromium")
    if path:
        return path
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("chromium is not installed and apt-get cannot run here (not root or no apt)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    steps = (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "chromium"])
    for cmd in steps:
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
        if p.returncode != 0:
            pytest.skip(f"cannot install chromium: {' '.join(cmd)} exited {p.returncode}: "
                        f"{(p.stderr.strip().splitlines() or [''])[-1]}")
    path = shutil.which("chromium")
    if not path:
        pytest.skip("apt-get installed chromium but no `chromium` is on PATH")
    return path


def _browse(chromium, url, *extra, cwd=None):
    with tempfile.TemporaryDirectory(prefix="aioh-chromium-") as profile:
        return subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}", *extra, url],
                              capture_output=True, text=True, timeout=120, cwd=cwd)


@pytest.fixture(scope="module")
def report_page(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("chromium")
    files = []
    for k in ("6.1.0-28-amd64", "6.12.57-amd64"):
        files.append(write(tmp / f"{k}.json", document([
            result("errors.bad-fd@libaio"),
            result("errors.bad-fd@io_uring", observed="EBADF@completion"),
            result("errors.bad-fd@kernel-aio",
                   verdict="fail" if k.startswith("6.12") else "pass",
                   observed="EINVAL@submit" if k.startswith("6.12") else "EBADF@submit",
                   expected="EBADF@submit"),
            result("wait.min-nr@libaio", observed="1@wait"),
            result("odirect.unaligned@io_uring", verdict="skip", reason="requires dio"),
        ], kernel=k, device="nvme-4k")))
    p = run_script("report", *files, "--out", str(tmp / "out"))
    assert p.returncode == 0, p.stderr
    return tmp / "out" / "report.html"


@pytest.mark.parametrize("fragment,want", [
    ("interface=io_uring", {"errors.bad-fd@io_uring", "odirect.unaligned@io_uring"}),
    ("area=errors&verdict=fail", {"errors.bad-fd@kernel-aio"}),
    ("interface=libaio&area=wait", {"wait.min-nr@libaio"}),
    ("", None),  # no filter: every row shown
])
def test_filter_in_chromium(chromium, report_page, fragment, want):
    p = _browse(chromium, f"file://{report_page}#{fragment}", "--dump-dom")
    assert p.returncode == 0 and "<html" in p.stdout, p.stderr[-2000:]
    rows = parse(p.stdout).rows
    all_ids = {r["attrs"]["data-id"] for r in rows}
    shown = {r["attrs"]["data-id"] for r in rows if "hidden" not in r["attrs"]}
    assert len(all_ids) == 5
    assert shown == (want if want is not None else all_ids)
    # The script ran (it stamps the applied filter on <body>); a page whose JS failed
    # would show every row and no stamp.
    assert "data-filtered=" in p.stdout


def test_screenshot(chromium, report_page, tmp_path):
    shot = tmp_path / "report.png"
    p = _browse(chromium, f"file://{report_page}#verdict=fail", f"--screenshot={shot}",
                "--window-size=1280,900", cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
