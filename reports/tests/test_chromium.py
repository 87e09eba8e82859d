"""The HTML report in a real headless Chromium (Debian's `chromium`, installed here with
apt-get when missing): the page's own script applies filters, a search and a sort read from
the URL fragment, the dumped DOM must show exactly the chosen rows in the chosen order, a
page of 5 000 rows x 12 columns still runs its script, and a screenshot must be a non-empty
PNG. Skipped, with the reason, only where Chromium cannot be installed."""

from __future__ import annotations

import os
import re
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


@pytest.mark.parametrize("fragment,want", [
    ("q=bad-fd", {"errors.bad-fd@libaio", "errors.bad-fd@io_uring", "errors.bad-fd@kernel-aio"}),
    ("q=EINVAL", {"errors.bad-fd@kernel-aio"}),  # searches the cells' outcomes too
    ("q=requires%20dio&interface=io_uring", {"odirect.unaligned@io_uring"}),
    ("q=nothing-matches-this", set()),
])
def test_search_in_chromium(chromium, report_page, fragment, want):
    p = _browse(chromium, f"file://{report_page}#{fragment}", "--dump-dom")
    assert p.returncode == 0 and "<html" in p.stdout, p.stderr[-2000:]
    rows = parse(p.stdout).rows
    assert {r["attrs"]["data-id"] for r in rows if "hidden" not in r["attrs"]} == want


@pytest.mark.parametrize("fragment,key,reverse", [
    ("sort=0:asc", lambda r: r["attrs"]["data-id"].split("@")[0], False),
    ("sort=0:desc", lambda r: r["attrs"]["data-id"].split("@")[0], True),
    ("sort=1:desc", lambda r: r["attrs"]["data-interface"], True),
])
def test_sort_in_chromium(chromium, report_page, fragment, key, reverse):
    """The rows come out of the page's script in the order of the chosen column."""
    p = _browse(chromium, f"file://{report_page}#{fragment}", "--dump-dom")
    assert p.returncode == 0, p.stderr[-2000:]
    rows = parse(p.stdout).rows
    got = [key(r) for r in rows]
    assert got == sorted(got, reverse=reverse) and len(set(got)) > 1, got
    col = int(fragment.split("=")[1].split(":")[0])
    head = p.stdout.split('id="matrix-table"', 1)[1].split("</thead>", 1)[0]
    ths = re.findall(r"<th\b[^>]*>", head)
    assert f'data-dir="{fragment.split(":")[1]}"' in ths[col], ths


def test_large_page_in_chromium(chromium, tmp_path):
    """5 000 rows x 12 columns: the script still filters and sorts the whole matrix."""
    ids = [f"area{i % 7}.case-{i:04d}@{('libaio', 'io_uring', 'kernel-aio', 'posix-aio')[i % 4]}" for i in range(5000)]
    files = []
    for n in range(12):
        k = f"6.{n}.0-1-amd64"
        files.append(write(tmp_path / "in" / f"{k}.json", document([
            result(rid, verdict="fail" if i % 500 == n else "pass",
                   observed="EINVAL@submit" if i % 500 == n else "EBADF@submit", expected="EBADF@submit")
            for i, rid in enumerate(ids)], kernel=k, device="nvme-4k")))
    p = run_script("report", str(tmp_path / "in"), "--out", str(tmp_path / "out"))
    assert p.returncode == 0, p.stderr
    page = tmp_path / "out" / "report.html"
    p = _browse(chromium, f"file://{page}#verdict=fail&sort=0:desc", "--dump-dom")
    assert p.returncode == 0, p.stderr[-2000:]
    rows = parse(p.stdout).rows
    shown = [r["attrs"]["data-id"] for r in rows if "hidden" not in r["attrs"]]
    assert len(rows) == 5000 and len(shown) == 120  # 10 failing ids per column, 12 columns
    cases = [s.split("@")[0] for s in shown]
    assert cases == sorted(cases, reverse=True)
