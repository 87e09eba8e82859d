"""The upgrade gate, run as scripts/gate on result sets built here: each regression kind
makes it exit 1 and is named in the table and the JSON; the same run twice, fixes and
allowed changes exit 0; bad input exits 2 with one line; --json never overwrites; and on
real runs, a library build that breaks its convention is caught."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from conftest import ROOT, document, result, run_script, write

BASE = [
    result("errors.bad-fd@libaio"),
    result("errors.bad-fd@io_uring", observed="EBADF@completion"),
    result("errors.bad-fd@kernel-aio"),
    result("cancel.inflight@posix-aio", observed="AIO_NOTCANCELED@cancel"),
    result("wait.timeout@io_uring", verdict="fail", observed="0@wait", expected="ETIME@wait"),
]


def _pair(tmp_path, new_results, base_results=BASE, **new_kw):
    b = write(tmp_path / "base.json", document(base_results))
    n = write(tmp_path / "new" / "run.json", document(new_results, **new_kw))
    return b, n


def _with(rid, **kw):
    out = []
    for r in BASE:
        if r["id"] == rid:
            r = dict(r, **kw)
        out.append(r)
    return out


def test_same_run_passes(tmp_path):
    b, n = _pair(tmp_path, BASE)
    p = run_script("gate", b, n)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "0 regression(s)" in p.stdout


@pytest.mark.parametrize("kind,new", [
    ("verdict", _with("errors.bad-fd@libaio", verdict="fail", reason="expected EBADF@submit")),
    ("verdict", _with("errors.bad-fd@libaio", verdict="timeout")),
    ("verdict", _with("errors.bad-fd@libaio", verdict="crash")),
    ("verdict", _with("errors.bad-fd@libaio", verdict="broken")),
    # VM-level rows for cases a guest never finished carry nulls (vm/results.py vm_result).
    ("verdict", _with("errors.bad-fd@libaio", verdict="kernel-panic", observed=None, expected=None,
                      observations=[], case=None, interface=None, reason="Kernel panic - not syncing")),
    ("verdict", _with("errors.bad-fd@libaio", verdict="no-result", observed=None, expected=None,
                      observations=[], reason="guest hung")),
    ("outcome", [result("errors.bad-fd@io_uring", observed="EBADF@submit") if r["id"] == "errors.bad-fd@io_uring" else r for r in BASE]),
    ("outcome", [result("errors.bad-fd@kernel-aio", observed="EINVAL@submit") if r["id"] == "errors.bad-fd@kernel-aio" else r for r in BASE]),
    ("disappeared", BASE[1:]),
    ("kernel-log", _with("errors.bad-fd@libaio", reason="kernel-log: WARNING: at fs/aio.c")),
])
def test_each_regression_fails(tmp_path, kind, new):
    b, n = _pair(tmp_path, new)
    out = tmp_path / "changes.json"
    p = run_script("gate", b, n, "--json", str(out))
    assert p.returncode == 1, p.stdout + p.stderr
    assert "REGRESSION" in p.stdout and kind in p.stdout
    doc = json.loads(out.read_text())
    regs = [c for c in doc["changes"] if c["regression"] and not c["allowed"]]
    assert doc["regressions"] == len(regs) >= 1
    assert kind in {c["kind"] for c in regs}


def test_improvements_and_new_cases_pass(tmp_path):
    new = _with("wait.timeout@io_uring", verdict="pass", observed="ETIME@wait",
                observations=[{"errno": "ETIME", "phase": "wait", "channel": "cqe->res"}])
    new.append(result("errors.bad-fd@posix-aio", observed="EBADF@completion"))
    b, n = _pair(tmp_path, new)
    out = tmp_path / "c.json"
    p = run_script("gate", b, n, "--json", str(out))
    # fail -> pass changes the observed outcome too: a fix, listed but not a regression.
    assert p.returncode == 0, p.stdout + p.stderr
    doc = json.loads(out.read_text())
    kinds = {(c["id"], c["kind"], c["regression"]) for c in doc["changes"]}
    assert kinds == {("errors.bad-fd@posix-aio", "new", False),
                     ("wait.timeout@io_uring", "verdict", False),
                     ("wait.timeout@io_uring", "outcome", False)}


def test_skip_does_not_compare_outcomes(tmp_path):
    new = _with("errors.bad-fd@io_uring", verdict="skip", observed="", observations=[],
                reason="requires io_uring: disabled")
    b, n = _pair(tmp_path, new)
    p = run_script("gate", b, n)
    assert p.returncode == 0, p.stdout
    assert "pass" in p.stdout and "skip" in p.stdout  # listed as information


def test_allow_list(tmp_path):
    new = [result("errors.bad-fd@kernel-aio", observed="EINVAL@submit") if r["id"] == "errors.bad-fd@kernel-aio" else r
           for r in BASE]
    b, n = _pair(tmp_path, new)
    allow = tmp_path / "allow.toml"
    allow.write_text('[[allow]]\nid = "errors.bad-fd@kernel-*"\nchange = "outcome"\n'
                     'from = "EBADF@submit"\nto = "EINVAL@submit"\n'
                     'reason = "fixture: an expected errno change"\nref = "test"\n'
                     '[[allow]]\nid = "nothing.*"\nchange = "any"\nreason = "stale entry"\n')
    out = tmp_path / "c.json"
    p = run_script("gate", b, n, "--allow", str(allow), "--json", str(out))
    assert p.returncode == 0, p.stdout + p.stderr
    doc = json.loads(out.read_text())
    (c,) = doc["changes"]
    assert c["allowed"].startswith("fixture: an expected errno change")
    assert [s["id"] for s in doc["stale_allow"]] == ["nothing.*"]
    # An entry whose `to` does not match the change allows nothing.
    allow.write_text('[[allow]]\nid = "errors.*"\nchange = "outcome"\nto = "EFAULT@*"\nreason = "r"\n')
    assert run_script("gate", b, n, "--allow", str(allow)).returncode == 1


@pytest.mark.parametrize("text", [
    '[[allow]]\nid = "x"\nchange = "outcome"\n',                       # no reason
    '[[allow]]\nid = "x"\nchange = "sideways"\nreason = "r"\n',        # unknown change
    '[[allow]]\nid = "x"\nchange = "any"\nreason = "r"\nwhy = "?"\n',  # unknown key
    'allow = "x"\n',
    'this is not toml',
])
def test_bad_allow_list_is_bad_input(tmp_path, text):
    b, n = _pair(tmp_path, BASE)
    allow = tmp_path / "allow.toml"
    allow.write_text(text)
    p = run_script("gate", b, n, "--allow", str(allow))
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1, p.stderr


def test_bad_input(tmp_path):
    good = write(tmp_path / "good.json", document(BASE))
    (tmp_path / "other.json").write_text(json.dumps({"schema": "something-else/1"}))
    (tmp_path / "garbage.json").write_text("{{{")
    (tmp_path / "empty").mkdir()
    for bad in (str(tmp_path / "missing.json"), str(tmp_path / "other.json"),
                str(tmp_path / "garbage.json"), str(tmp_path / "empty")):
        p = run_script("gate", good, bad)
        assert p.returncode == 2, (bad, p.stdout, p.stderr)
        assert len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert run_script("gate", good).returncode == 2  # usage


def test_json_never_overwritten(tmp_path):
    b, n = _pair(tmp_path, BASE)
    out = tmp_path / "c.json"
    out.write_text("keep me")
    p = run_script("gate", b, n, "--json", str(out))
    assert p.returncode == 2 and "refusing to overwrite" in p.stderr
    assert out.read_text() == "keep me"


def test_kernel_upgrade_between_single_columns(tmp_path):
    """A 5.10 run against a 6.12 run: different kernels, same device, compared by id."""
    b = write(tmp_path / "b.json", document(BASE, kernel="5.10.0-33-amd64", device="nvme-4k"))
    new = [result("errors.bad-fd@io_uring", observed="EBADF@submit") if r["id"] == "errors.bad-fd@io_uring" else r
           for r in BASE]
    n = write(tmp_path / "n.json", document(new, kernel="6.12.57-amd64", device="nvme-4k"))
    out = tmp_path / "c.json"
    p = run_script("gate", b, n, "--json", str(out))
    assert p.returncode == 1
    (c,) = [c for c in json.loads(out.read_text())["changes"] if c["regression"]]
    assert c["id"] == "errors.bad-fd@io_uring" and "5.10" in c["column"] and "6.12" in c["column"]


def test_matrix_directories_pair_by_column(tmp_path):
    """Matrix shards in directories: the same kernel x device columns pair exactly; the host
    column (whose kernel differs between machines) pairs by device."""
    for side, host_kernel in (("base", "6.1.0-28-amd64"), ("new", "6.1.0-30-amd64")):
        for k in ("5.10.0-33-amd64", "6.12.57-amd64"):
            for dev in ("nvme-4k", "virtio"):
                # Two shards per column: the first two results, then the rest.
                write(tmp_path / side / f"{k}-{dev}-1.json", document(BASE[:2], kernel=k, device=dev))
                write(tmp_path / side / f"{k}-{dev}-2.json", document(BASE[2:], kernel=k, device=dev))
        write(tmp_path / side / "host.json", document(BASE, kernel=host_kernel))
    p = run_script("gate", str(tmp_path / "base"), str(tmp_path / "new"))
    assert p.returncode == 0, p.stdout + p.stderr
    # Lose one shard of one column on the new side: its cases disappeared.
    (tmp_path / "new" / "6.12.57-amd64-virtio-2.json").unlink()
    p = run_script("gate", str(tmp_path / "base"), str(tmp_path / "new"))
    assert p.returncode == 1 and "disappeared" in p.stdout and "6.12.57-amd64 × virtio" in p.stdout


def test_matrix_pairs_by_kernel_series(tmp_path):
    """A matrix row names a series ("6.1"); the package it resolves to moves on. New
    packages of each series pair with the old ones, and a changed errno on one is named."""
    for side, kernels in (("base", ("5.10.0-32-amd64", "6.1.0-28-amd64")),
                          ("new", ("5.10.0-33-amd64", "6.1.0-30-amd64"))):
        for k in kernels:
            for dev in ("nvme-4k", "virtio"):
                rows = BASE
                if side == "new" and k.startswith("6.1") and dev == "virtio":
                    rows = _with("errors.bad-fd@libaio", observed="EINVAL@submit",
                                 observations=[{"errno": "EINVAL", "phase": "submit", "channel": "return"}])
                write(tmp_path / side / f"{k}-{dev}.json", document(rows, kernel=k, device=dev))
    out = tmp_path / "c.json"
    p = run_script("gate", str(tmp_path / "base"), str(tmp_path / "new"), "--json", str(out))
    assert p.returncode == 1, p.stdout + p.stderr
    (c,) = json.loads(out.read_text())["changes"]
    assert c["id"] == "errors.bad-fd@libaio" and c["kind"] == "outcome"
    assert c["column"] == "6.1.0-28-amd64 × virtio → 6.1.0-30-amd64 × virtio"
    assert (c["base"], c["new"]) == ("EBADF@submit", "EINVAL@submit")


def test_column_new_to_the_matrix(tmp_path):
    """A kernel or device added to the matrix has no baseline: its cases are new, not a
    regression; a column that went away has its cases disappeared."""
    b = write(tmp_path / "base" / "host.json", document(BASE))
    write(tmp_path / "new" / "host.json", document(BASE))
    write(tmp_path / "new" / "virtio.json", document(BASE, kernel="6.12.57-amd64", device="virtio"))
    write(tmp_path / "new" / "nvme.json", document(BASE, kernel="6.12.57-amd64", device="nvme-4k"))
    out = tmp_path / "c.json"
    p = run_script("gate", str(tmp_path / "base"), str(tmp_path / "new"), "--json", str(out))
    assert p.returncode == 0, p.stdout + p.stderr
    changes = json.loads(out.read_text())["changes"]
    assert len(changes) == 2 * len(BASE) and {c["kind"] for c in changes} == {"new"}
    p = run_script("gate", str(tmp_path / "new"), b)
    assert p.returncode == 1 and "disappeared" in p.stdout


def test_truncated_new_run(tmp_path):
    """A run killed mid-stream: complete results are compared, the rest disappeared."""
    b = write(tmp_path / "b.json", document(BASE))
    text = json.dumps(document(BASE, summary=False), indent=1)
    cut = text.index('"cancel.inflight@posix-aio"') - 20
    (tmp_path / "n.json").write_text(text[:cut])
    p = run_script("gate", b, str(tmp_path / "n.json"))
    assert p.returncode == 2 and "n.json: cut short" in p.stderr, p.stdout + p.stderr
    p = run_script("gate", "--partial", b, str(tmp_path / "n.json"))
    assert p.returncode == 1, p.stdout + p.stderr
    assert "disappeared" in p.stdout and "cancel.inflight@posix-aio" in p.stdout
    assert "errors.bad-fd@libaio" not in p.stdout  # compared and unchanged
    assert "cut short" in p.stdout


def test_real_broken_library_build(harness_bin, tmp_path):
    """Real runs: the same cases, then under a libaio build that breaks its return
    convention (tests/fixtures/libaio_errno_convention.c, LD_PRELOADed): the gate exits 1
    and names the libaio cases; the first run against itself exits 0."""
    shim = os.path.join(os.path.dirname(harness_bin), "liblibaio_errno_convention.so")
    if not os.path.isfile(shim):
        pytest.skip(f"{shim} not built (the GoogleTest fixtures build it)")
    cases = ["--cases", os.environ["AIOH_CASES"]] if os.environ.get("AIOH_CASES") else []
    runs = {}
    for name, env in (("base", {}), ("broken", {"LD_PRELOAD": shim})):
        scratch = tmp_path / f"s-{name}"
        scratch.mkdir()
        out = tmp_path / f"{name}.json"
        p = subprocess.run([harness_bin, "--interface", "libaio", "--filter", "errors.*", "--format", "json",
                            "--output", str(out), "--scratch", str(scratch), *cases],
                           env=dict(os.environ, **env), capture_output=True, text=True, timeout=300)
        assert p.returncode in (0, 1), p.stderr
        runs[name] = str(out)
    assert run_script("gate", runs["base"], runs["base"]).returncode == 0
    js = tmp_path / "changes.json"
    p = run_script("gate", runs["base"], runs["broken"], "--json", str(js))
    assert p.returncode == 1, p.stdout + p.stderr
    regs = [c for c in json.loads(js.read_text())["changes"] if c["regression"]]
    assert regs and all(c["id"].endswith("@libaio") for c in regs)
    assert any("convention" in c["new"] for c in regs), regs[:3]
    for c in regs:
        assert c["id"] in p.stdout


def test_signal_by_name_and_by_number_is_one_outcome(tmp_path):
    """A baseline written before the harness named signals (11@wait) against a run that
    names them (SIGSEGV@wait): no change; another signal is one."""
    old = [result("libaio.destroyed-ctx@libaio", observed="11@wait")]
    b = write(tmp_path / "b.json", document(old))
    same = write(tmp_path / "n.json", document([result("libaio.destroyed-ctx@libaio", observed="SIGSEGV@wait")]))
    other = write(tmp_path / "o.json", document([result("libaio.destroyed-ctx@libaio", observed="SIGBUS@wait")]))
    p = run_script("gate", b, same)
    assert p.returncode == 0 and "0 regression(s), 0 allowed, 0 other" in p.stdout, p.stdout
    p = run_script("gate", b, other)
    assert p.returncode == 1 and "SIGBUS@wait" in p.stdout, p.stdout


def test_alternatives_of_a_passing_row_do_not_flap(tmp_path):
    """A row whose expectation allows alternatives (0|-1, with a why): both passing, a move
    between them is listed, not a regression; a value outside them still is."""
    exp = "0|-1@completion, 16@completion"
    b = write(tmp_path / "b.json", document([result("posix-status.x@posix-aio", observed="0@completion, 16@completion",
                                                    expected=exp)]))
    n = write(tmp_path / "n.json", document([result("posix-status.x@posix-aio", observed="-1@completion, 16@completion",
                                                    expected=exp)]))
    p = run_script("gate", b, n)
    assert p.returncode == 0 and "0 regression(s), 0 allowed, 1 other" in p.stdout, p.stdout
    # Pinned to one value, the same move is a regression.
    b1 = write(tmp_path / "b1.json", document([result("posix-status.x@posix-aio", observed="0@completion, 16@completion",
                                                      expected="0@completion, 16@completion")]))
    n1 = write(tmp_path / "n1.json", document([result("posix-status.x@posix-aio", observed="-1@completion, 16@completion",
                                                      expected="0@completion, 16@completion")]))
    assert run_script("gate", b1, n1).returncode == 1


def test_an_xpass_does_not_fail_the_gate(tmp_path):
    """xpass is neutral (vocabulary): a known defect that stopped reproducing is listed."""
    xf = {"reason": "early return", "ref": "linux commit 0123abcd"}
    b = write(tmp_path / "b.json", document([result("wait.x@libaio", verdict="xfail", observed="0@wait", xfail=xf)]))
    n = write(tmp_path / "n.json", document([result("wait.x@libaio", verdict="xpass", observed="1@wait", xfail=xf)]))
    p = run_script("gate", b, n, "--json", str(tmp_path / "c.json"))
    assert p.returncode == 0, p.stdout  # the outcome moved from the defect to what the row expects: a fix
    kinds = {c["kind"]: c["regression"] for c in json.loads((tmp_path / "c.json").read_text())["changes"]}
    assert kinds == {"verdict": False, "outcome": False}
    assert "xpass" in p.stdout


BASELINE = ROOT / "reports" / "baseline"


def test_real_host_run_against_the_committed_baseline(host_run_dir):
    """The whole catalog on this machine, gated against the committed host baseline with
    its allow-list: no regression. (The baseline is this machine's; on another kernel the
    outcomes may legitimately differ, so the test applies where the kernel is the one the
    baseline was made on.)"""
    if os.environ.get("AIOH_REPORT_FILTER") or os.environ.get("AIOH_CASES"):
        pytest.skip("the host run is filtered or uses another case directory")
    base = BASELINE / "results" / "host.json"
    # The version, not the release: a machine's local suffix (-fc-v782) changes between boots.
    def version(path):
        release = json.loads(path.read_text())["environment"]["kernel_release"]
        return re.match(r"[0-9.]*", release).group(0)
    here, made_on = version(host_run_dir / "run.json"), version(base)
    if here != made_on:
        pytest.skip(f"the host baseline is from kernel {made_on}; this is {here}")
    p = run_script("gate", str(base), str(host_run_dir / "run.json"), "--allow", str(BASELINE / "allow.toml"))
    assert p.returncode == 0, p.stdout[-6000:] + p.stderr
