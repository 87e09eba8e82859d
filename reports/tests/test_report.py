"""scripts/report on result sets built here: shards merge into columns, the HTML holds every
view and nothing that would fetch from the network, the Markdown lists kernel-to-kernel
changes, known bugs hit and documentation deviations; outputs are never overwritten."""

from __future__ import annotations

import html.parser
import json
import os
import re
import signal
import subprocess
import time

import pytest

from reports import results as R

from conftest import document, result, run_script, write

KERNELS = ("5.10.0-33-amd64", "6.1.0-28-amd64", "6.12.57-amd64")


def matrix(tmp_path):
    """A small VM matrix: 3 kernels x 2 devices, each split over two shard files, where
    io_uring's bad-fd errno changes phase on 6.12 and a known bug shows on 5.10."""
    files = []
    for k in KERNELS:
        for dev in ("nvme-4k", "virtio"):
            late = k.startswith("6.12")
            rows = [
                result("errors.bad-fd@libaio"),
                result("errors.bad-fd@kernel-aio"),
                result("errors.bad-fd@io_uring", observed="EBADF@submit" if late else "EBADF@completion"),
                result("errors.bad-fd@posix-aio", observed="EBADF@completion"),
                result("cancel.inflight@posix-aio", observed="AIO_NOTCANCELED@cancel",
                       doc="aio_cancel(3): returns AIO_CANCELED for a request still queued"),
                result("wait.min-nr@kernel-aio", verdict="xfail" if k.startswith("5.10") else "pass",
                       observed="1@wait", xfail={"reason": "io_getevents returns early", "ref": "linux commit 0123abcd"}),
                result("odirect.unaligned@io_uring", verdict="skip", reason="requires dio: scratch fs is tmpfs"),
            ]
            files.append(write(tmp_path / "in" / f"{k}-{dev}-a.json", document(rows[:4], kernel=k, device=dev)))
            files.append(write(tmp_path / "in" / f"{k}-{dev}-b.json", document(rows[4:], kernel=k, device=dev)))
    return files


class Rows(html.parser.HTMLParser):
    """Collects <tr class="case"> rows of the matrix with their hidden state and cells."""

    def __init__(self):
        super().__init__()
        self.rows, self.cur, self.head = [], None, []
        self.in_matrix = False
        self.tags = set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.add(tag)
        if tag == "table":
            self.in_matrix = a.get("id") == "matrix-table"
        if tag == "tr" and "case" in (a.get("class") or "").split():
            self.cur = {"attrs": a, "cells": []}
            self.rows.append(self.cur)
        elif tag == "td" and self.cur is not None and "cell" in (a.get("class") or ""):
            self.cur["cells"].append(a)
        elif tag == "th" and self.in_matrix:
            self.head.append("")

    def handle_data(self, data):
        if self.in_matrix and self.cur is None and self.head:
            self.head[-1] += data

    def handle_endtag(self, tag):
        if tag == "tr":
            self.cur = None
        if tag == "table":
            self.in_matrix = False


def parse(text):
    p = Rows()
    p.feed(text)
    return p


def test_report_from_matrix_shards(tmp_path):
    files = matrix(tmp_path)
    # A matrix output directory also holds other JSON (its own summary): passed over.
    (tmp_path / "in" / "matrix-summary.json").write_text('{"schema": "aioharness-matrix/1"}')
    p = run_script("report", *files[:2], str(tmp_path / "in"), "--out", str(tmp_path / "out"))
    assert p.returncode == 0, p.stderr
    assert "matrix-summary.json: skipped" in p.stdout
    page = (tmp_path / "out" / "report.html").read_text()
    doc = parse(page)
    # One row per case id, one column per kernel x device (shards merged, duplicates of
    # the files given twice kept once), ordered by device then kernel version.
    assert len(doc.rows) == 7
    cols = [h.strip() for h in doc.head if "×" in h]
    assert cols == [f"{k} × {d}" for d in ("nvme-4k", "virtio") for k in KERNELS]
    assert all(len(r["cells"]) == 6 for r in doc.rows)
    # The changed io_uring phase is outlined in the 6.12 columns only.
    (row,) = [r for r in doc.rows if r["attrs"]["data-id"] == "errors.bad-fd@io_uring"]
    changed = [i for i, c in enumerate(row["cells"]) if "changed" in c["class"]]
    assert changed == [2, 5]
    (row,) = [r for r in doc.rows if r["attrs"]["data-id"] == "wait.min-nr@kernel-aio"]
    assert [c["data-verdict"] for c in row["cells"]][:3] == ["xfail", "pass", "pass"]
    assert "changed" in row["cells"][1]["class"] and "changed" not in row["cells"][0]["class"]
    # Filters, side-by-side, deviations and environments are all there.
    for needle in ('id="f-interface"', 'id="f-area"', 'id="f-verdict"', 'id="side-table"',
                   'id="dev-table"', "aio_cancel(3): returns AIO_CANCELED", 'id="env-5"',
                   "Debian GNU/Linux 12", "tcg"):
        assert needle in page, needle
    # Self-contained: nothing that a browser would fetch.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<link" not in page and "@import" not in page and "url(" not in page

    md = (tmp_path / "out" / "summary.md").read_text()
    for iface in ("kernel-aio", "libaio", "posix-aio", "io_uring"):
        assert f"## {iface}" in md
    changes = md.split("## Behaviour changes between consecutive kernels")[1].split("##")[0]
    assert "6.1.0-28-amd64 × nvme-4k | 6.12.57-amd64 × nvme-4k | errors.bad-fd@io_uring" in changes
    assert "5.10.0-33-amd64 × virtio | 6.1.0-28-amd64 × virtio | wait.min-nr@kernel-aio" in changes
    assert "libaio" not in changes  # unchanged cases are not listed
    bugs = md.split("## Known-bug entries hit")[1].split("##")[0]
    assert "linux commit 0123abcd" in bugs and "6.1.0" not in bugs
    assert "aio_cancel(3): returns AIO_CANCELED" in md.split("## Documentation deviations")[1]


def test_library_builds_get_their_own_columns(tmp_path):
    a = write(tmp_path / "a.json", document([result("errors.bad-fd@io_uring")], liburing="2.3"))
    b = write(tmp_path / "b.json", document([result("errors.bad-fd@io_uring", verdict="fail",
                                                   observed="EINVAL@submit")], liburing="2.9"))
    p = run_script("report", a, b, "--out", str(tmp_path / "out"))
    assert p.returncode == 0, p.stderr
    head = [h.strip() for h in parse((tmp_path / "out" / "report.html").read_text()).head if "×" in h]
    assert len(head) == 2 and any("liburing 2.9" in h for h in head) and any("liburing 2.3" in h for h in head)


def test_jsonl_and_truncated_inputs(tmp_path):
    rows = [result("errors.bad-fd@libaio"), result("errors.bad-fd@io_uring", observed="EBADF@completion")]
    d = document(rows)
    lines = [json.dumps({"type": "environment", **{k: d[k] for k in ("schema", "tool", "run", "environment")}})]
    lines += [json.dumps({"type": "result", **r}) for r in rows]
    lines.append(json.dumps({"type": "summary", "total": 2}))
    (tmp_path / "run.jsonl").write_text("\n".join(lines) + "\n")
    text = json.dumps(document(rows, kernel="6.12.57-amd64", summary=False))
    (tmp_path / "cut.json").write_text(text[: text.index('"errors.bad-fd@io_uring"') + 5])
    # Cut short is bad input unless asked for: one line naming the file, nothing written.
    p = run_script("report", str(tmp_path / "run.jsonl"), str(tmp_path / "cut.json"), "--out", str(tmp_path / "o"))
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert "cut.json: cut short" in p.stderr and "--partial" in p.stderr and not (tmp_path / "o").exists()
    p = run_script("report", "--partial", str(tmp_path / "run.jsonl"), str(tmp_path / "cut.json"),
                   "--out", str(tmp_path / "o"))
    assert p.returncode == 0, p.stderr
    md = (tmp_path / "o" / "summary.md").read_text()
    assert "(cut short)" in md
    libaio = md.split("## libaio")[1].split("##")[0]
    assert "| errors.bad-fd | pass EBADF@submit | pass EBADF@submit |" in libaio
    uring = md.split("## io_uring")[1].split("##")[0]
    assert "| errors.bad-fd | pass EBADF@completion | — |" in uring


def test_never_overwrites(tmp_path):
    f = write(tmp_path / "r.json", document([result("errors.bad-fd@libaio")]))
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.md").write_text("keep")
    p = run_script("report", f, "--out", str(out))
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1
    assert "refusing to overwrite" in p.stderr
    assert (out / "summary.md").read_text() == "keep" and not (out / "report.html").exists()


def test_bad_input(tmp_path):
    """Another schema version, an unknown verdict, a truncated file, an id twice in one
    document, a missing file, no file: one line naming the file, exit 2, nothing written."""
    good = write(tmp_path / "good.json", document([result("errors.bad-fd@libaio")]))
    write(tmp_path / "verdict.json", document([result("a.b@libaio", verdict="green")]))
    write(tmp_path / "schema.json", dict(document([result("a.b@libaio")]), schema="aioharness-result/2"))
    write(tmp_path / "twice.json", document([result("a.b@libaio"), result("a.b@libaio", verdict="fail")]))
    text = json.dumps(document([result("a.b@libaio"), result("a.c@libaio")]))
    (tmp_path / "cut.json").write_text(text[: text.index('"a.c@libaio"')])
    (tmp_path / "nosummary.json").write_text(json.dumps(document([result("a.b@libaio")], summary=False)))
    for bad, says in (("verdict.json", "unknown verdict 'green'"), ("schema.json", "aioharness-result/2"),
                      ("twice.json", "appears twice"), ("cut.json", "cut short"), ("nosummary.json", "cut short"),
                      ("nope.json", "no such file")):
        p = run_script("report", good, str(tmp_path / bad), "--out", str(tmp_path / "o"))
        assert p.returncode == 2, (bad, p.stderr)
        assert len(p.stderr.strip().splitlines()) == 1 and bad in p.stderr and says in p.stderr, p.stderr
        assert not (tmp_path / "o").exists(), f"{bad}: something was written"
        g = run_script("gate", good, str(tmp_path / bad))
        assert g.returncode == 2 and bad in g.stderr and len(g.stderr.strip().splitlines()) == 1, g.stderr
    p = run_script("report", "--out", str(tmp_path / "o"))
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1, p.stderr


def test_two_runs_of_one_environment_are_two_columns(tmp_path):
    """Two runs of one host that share ids: neither hides the other (a failure in the first
    stays visible), each column names its file; disjoint runs (shards) still merge."""
    a = write(tmp_path / "a.json", document([result("errors.bad-fd@libaio", verdict="fail", observed="EINVAL@submit",
                                                    expected="EBADF@submit")]))
    b = write(tmp_path / "b.json", document([result("errors.bad-fd@libaio")]))
    c = write(tmp_path / "c.json", document([result("wait.min-nr@libaio", observed="1@wait")]))
    p = run_script("report", a, b, c, "--out", str(tmp_path / "o"))
    assert p.returncode == 0, p.stderr
    doc = parse((tmp_path / "o" / "report.html").read_text())
    head = [h.strip() for h in doc.head if "×" in h]
    assert len(head) == 2 and "#1 (a.json, c.json)" in head[0] and "#2 (b.json)" in head[1], head
    (row,) = [r for r in doc.rows if r["attrs"]["data-id"] == "errors.bad-fd@libaio"]
    assert [c["data-verdict"] for c in row["cells"]] == ["fail", "pass"]
    md = (tmp_path / "o" / "summary.md").read_text()
    assert "**FAIL** EINVAL@submit (expected EBADF@submit)" in md
    # The gate compares one run per environment: two on one side is an error, not a guess.
    g = run_script("gate", b, str(tmp_path))
    assert g.returncode == 2 and "a second run" in g.stderr and len(g.stderr.strip().splitlines()) == 1, g.stderr


def test_control_characters_are_shown_not_sent(tmp_path):
    """A reason, reference or source holding terminal escapes and other C0 bytes (any byte
    can reach them) reaches neither page raw: each is shown as its control picture."""
    nasty = "defect \x1b[1mbold\x1b[0m \x01\x1f\x7f end"
    a = write(tmp_path / "a.json", document([
        result("wait.min-nr@kernel-aio", verdict="xfail", observed="1@wait", source=nasty,
               xfail={"reason": nasty, "ref": "ref \x1b[33m"})]))
    p = run_script("report", a, "--out", str(tmp_path / "o"))
    assert p.returncode == 0, p.stderr
    for name in ("summary.md", "report.html"):
        text = (tmp_path / "o" / name).read_text()
        raw = sorted({f"{ord(c):#04x}" for c in text if (ord(c) < 0x20 and c not in "\t\n") or ord(c) == 0x7F})
        assert not raw, f"{name} carries raw control bytes {raw}"
        assert "\u241b[1mbold" in text and "\u2401\u241f\u2421" in text, name


def _target(name, kind, fs, lbs):
    return {"name": name, "kind": kind, "fs": fs, "available": True, "logical_block_size": lbs}


def test_target_rows_and_sweep_tables(tmp_path):
    """A target case names its target in its row, a failing cell shows expected and
    observed, and the O_DIRECT sweep is one table per target kind with a column per
    kernel x device x target."""
    files = []
    for k in ("6.1.0-28-amd64", "6.12.57-amd64"):
        rows = [result("errors.bad-fd@libaio")]
        for t in (_target("loop-512", "raw", None, 512), _target("loop-4096", "raw", None, 4096),
                  _target("ext4-512", "fs", "ext4", 512)):
            bad = k.startswith("6.12") and t["name"] == "loop-4096"
            rows.append(result(f"dio.open@io_uring/{t['name']}", case="dio.open", interface="io_uring",
                               verdict="fail" if bad else "pass", observed="EINVAL@open" if bad else "0@open",
                               expected="0@open", target=t))
        files.append(write(tmp_path / f"{k}.json", document(rows, kernel=k, device="nvme-4k")))
    p = run_script("report", *files, "--out", str(tmp_path / "o"))
    assert p.returncode == 0, p.stderr
    page = (tmp_path / "o" / "report.html").read_text()
    doc = parse(page)
    labels = {r["attrs"]["data-id"]: r for r in doc.rows}
    assert "<td>dio.open on loop-4096</td>" in page and "<td>dio.open on ext4-512</td>" in page
    assert '<small class="exp">expected 0@open</small>' in page
    assert page.count('class="dio-table"') == 2  # ext4, raw block device
    assert 'data-kind="raw block device"' in page and 'data-kind="ext4"' in page
    md = (tmp_path / "o" / "summary.md").read_text()
    raw = md.split("## O_DIRECT sweep: raw block device")[1].split("##")[0]
    header = raw.strip().splitlines()[0]
    assert header.count("loop-512") == 2 and header.count("loop-4096") == 2 and "4096-byte blocks" in header
    assert "| dio.open@io_uring | pass 0@open | pass 0@open | pass 0@open | **FAIL** EINVAL@open (expected 0@open) |" in raw
    assert "dio.open" not in md.split("## O_DIRECT sweep")[0]  # only in the sweep tables
    assert len(labels) == 4


def test_thousands_of_rows_and_a_dozen_columns(tmp_path):
    """5 000 case ids x 12 columns render (HTML and Markdown) with every row and cell."""
    ids = [f"area{i % 7}.case-{i}@{('libaio', 'io_uring', 'kernel-aio', 'posix-aio')[i % 4]}" for i in range(5000)]
    files = []
    for n in range(12):
        k = f"6.{n}.0-1-amd64"
        rows = [result(rid, verdict="fail" if (i + n) % 97 == 0 else "pass",
                       observed="EINVAL@submit" if (i + n) % 97 == 0 else "EBADF@submit", expected="EBADF@submit")
                for i, rid in enumerate(ids)]
        files.append(write(tmp_path / "in" / f"{k}.json", document(rows, kernel=k, device="nvme-4k")))
    p = run_script("report", str(tmp_path / "in"), "--out", str(tmp_path / "o"))
    assert p.returncode == 0, p.stderr
    assert "5000 case ids x 12 column(s)" in p.stdout
    doc = parse((tmp_path / "o" / "report.html").read_text())
    assert len(doc.rows) == 5000 and all(len(r["cells"]) == 12 for r in doc.rows)
    md = (tmp_path / "o" / "summary.md").read_text()
    assert sum(1 for line in md.splitlines() if line.startswith("| area")) == 5000


def test_real_host_run(host_run_dir, tmp_path):
    """One real run: the report covers every result it holds, the gate finds it equal to itself."""
    run = str(host_run_dir / "run.json")
    p = run_script("report", run, "--out", str(tmp_path / "o"))
    assert p.returncode == 0, p.stderr
    results = json.loads((host_run_dir / "run.json").read_text())["results"]
    rows = parse((tmp_path / "o" / "report.html").read_text()).rows
    assert sorted(r["attrs"]["data-id"] for r in rows) == sorted(r["id"] for r in results)
    g = run_script("gate", run, run)
    assert g.returncode == 0, g.stdout + g.stderr
    # The run's directory holds it as JSON and as JSONL: one run, one column, not two.
    p = run_script("report", str(host_run_dir), "--out", str(tmp_path / "d"))
    assert p.returncode == 0 and "in another format; read once" in p.stdout, p.stdout + p.stderr
    assert "x 1 column(s)" in p.stdout


def test_real_jsonl_matches_json(host_run_dir):
    """The harness's --format jsonl stream loads as the same cases as its JSON document."""
    a = R.load_file(str(host_run_dir / "run.json"))
    b = R.load_file(str(host_run_dir / "run.jsonl"))
    assert not a.truncated and not b.truncated
    assert sorted(a.results) == sorted(b.results)
    assert a.environment.get("kernel_release") == b.environment.get("kernel_release")


def test_real_run_killed_midway(harness_bin, tmp_path):
    """A harness killed by SIGKILL mid-run leaves a JSON prefix the report still reads: the
    results finished before the kill, and the run marked as cut short."""
    out = tmp_path / "killed.json"
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    cases = ["--cases", os.environ["AIOH_CASES"]] if os.environ.get("AIOH_CASES") else []
    proc = subprocess.Popen([harness_bin, "--interface", "all", "--format", "json", "--output", str(out),
                             "--scratch", str(scratch), "--timeout", "10", *cases],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if out.exists() and out.read_text(errors="replace").count('"verdict"') >= 3:
                os.killpg(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.005)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode != 2, "harness rejected its input (exit 2)"
    if proc.returncode >= 0:
        pytest.skip(f"the run finished (exit {proc.returncode}) before it could be killed")
    with pytest.raises(R.InputError, match="cut short"):
        R.load_file(str(out))
    run = R.load_file(str(out), partial=True)
    assert run.truncated and len(run.results) >= 2
    p = run_script("report", "--partial", str(out), "--out", str(tmp_path / "o"))
    assert p.returncode == 0, p.stderr
    assert "(cut short)" in (tmp_path / "o" / "summary.md").read_text()
