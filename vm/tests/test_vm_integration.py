"""End to end, on a real kernel: boot the smallest catalog kernel (6.1) under QEMU, run a handful
of harness cases in the guest on an emulated 4K NVMe disk, and check that every case came back
over the result port with a test verdict and that the results were produced by the guest kernel.
Marked `vm` (deselect with -m "not vm"); bounded to 5 minutes."""
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from vm.matrix import find_harness
from vm.phases import VM_VERDICTS
from vm.results import TEST_VERDICTS
from vm.run import guest_disks_spec

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.vm


def harness_or_skip() -> Path:
    h = find_harness(None)
    if h is None:
        pytest.skip("no harness binary (build/harness or $AIOH_HARNESS): build it with ./scripts/build")
    if not shutil.which("qemu-system-x86_64"):
        pytest.skip("qemu-system-x86_64 not installed (scripts/matrix installs it as root)")
    return h


def listed(h: Path) -> list[dict]:
    """The catalog as the matrix lists it ($AIOH_CASES or its default tables, the sweep on the
    guest's target disks)."""
    env = dict(os.environ, AIOH_GUEST_DISKS=guest_disks_spec("nvme-4k"))
    r = subprocess.run([str(h), "--list", "--format", "json"], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        pytest.fail(f"harness --list failed: {r.stderr.strip()}")
    return json.loads(r.stdout)


def matrix(out: Path, filters: list[str], timeout: float = 300, extra=()) -> subprocess.CompletedProcess:
    argv = [str(REPO / "scripts/matrix"), "--kernels", "6.1", "--devices", "nvme-4k", "--out", str(out),
            "--jobs", "1", "--idle-timeout", "120", *extra]
    for f in filters:
        argv += ["--filter", f]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def test_smallest_kernel_runs_a_handful_of_cases(tmp_path: Path):
    h = harness_or_skip()
    cases = listed(h)
    # A handful spread over the interfaces: the first two ids of each.
    pick, seen = [], {}
    for c in cases:
        if seen.get(c["interface"], 0) < 2 and "panic" not in c["id"]:
            pick.append(c["id"])
            seen[c["interface"]] = seen.get(c["interface"], 0) + 1
    r = matrix(tmp_path, pick)
    docs = list(tmp_path.glob("*__nvme-4k.json"))
    assert len(docs) == 1, r.stderr[-3000:]
    doc = json.loads(docs[0].read_text())
    vm = doc["environment"]["vm"]
    assert vm["device"] == "nvme-4k" and vm["accel"] in ("tcg", "kvm") and vm["boot_path"]
    assert vm["kernel"]["release"].startswith("6.1.")
    # The harness itself, inside the guest, saw the guest's kernel.
    assert doc["environment"].get("kernel_release") == vm["kernel"]["release"]
    got = {x["id"]: x["verdict"] for x in doc["results"]}
    assert sorted(got) == sorted(pick)
    assert all(v in TEST_VERDICTS for v in got.values()), got
    assert not any(doc["summary"].get(v) for v in VM_VERDICTS)
    assert list(tmp_path.glob("*__nvme-4k.console.log"))


PANIC_CASES = REPO / "tests" / "fixtures" / "cases"


def test_panic_is_reported_and_the_rest_still_runs(tmp_path: Path):
    """A test-only row (tests/fixtures/cases/panic.toml, never in the catalog) panics the guest
    with sysrq 'c': it is reported as kernel-panic and the rows after it run after the reboot
    (the panic row runs alone, in the guest's alone part after the ordinary rows; the alone row
    after it is left for the second boot)."""
    h = harness_or_skip()
    r = subprocess.run([str(h), "--list", "--format", "json", "--cases", str(PANIC_CASES)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    cases = json.loads(r.stdout)
    panics = [c["id"] for c in cases if "sysrq" in c["id"]]
    others = [c["id"] for c in cases if c["id"] not in panics]
    assert panics and len(others) == 3, cases
    r = matrix(tmp_path, [panics[0]] + others, extra=("--cases", str(PANIC_CASES), "--test-allow-panic"))
    doc = json.loads(next(tmp_path.glob("*__nvme-4k.json")).read_text())
    got = {x["id"]: x["verdict"] for x in doc["results"]}
    assert got[panics[0]] == "kernel-panic", r.stderr[-3000:]
    assert all(got[o] in TEST_VERDICTS for o in others), got
    assert len(doc["environment"]["vm"]["boots"]) >= 2


# Rows whose case waits on the clock for a second or more (an idle timeout, a timed wait).
SLOW_ROWS = {"posix-init.idle-time-two-seconds", "posix-init.idle-time-one-second",
             "posix-suspend.tv-nsec-one-second", "kaio-getevents.tv-nsec-over-one-second"}


def test_real_panic_mid_run_reboots_and_resumes(tmp_path: Path):
    """The kernel really panics (an NMI injected through the QEMU monitor with unknown_nmi_panic
    set) after two results: the case it was running gets kernel-panic, the finished results are
    kept, and a second boot runs the rest."""
    h = harness_or_skip()
    # Enough work that the NMI (sent when the host has seen two results, which arrive up to a
    # second late: the guest forwards its result file once a second) lands mid-run, whatever
    # the machine's speed: one case at a time, and after the fast rows some that wait on the
    # clock (about 7 s of timed waits).
    # (No fault rows: they would add their parts after the catalog.)
    cases = [c["id"] for c in listed(h) if "panic" not in c["id"] and not c["id"].startswith("faults.")]
    ids = [i for i in cases if i.endswith("@posix-aio")][:300]
    slow = [i for i in cases if i.partition("@")[0] in SLOW_ROWS]
    if len(ids) < 20 or len(slow) < 4:
        pytest.skip("fewer than 20 posix-aio cases, or the timed-wait rows are gone from the catalog")
    ids += [i for i in slow if i not in ids]
    r = matrix(tmp_path, ids, extra=("--inject-panic-after", "2", "--guest-jobs", "1"))
    doc = json.loads(next(tmp_path.glob("*__nvme-4k.json")).read_text())
    got = {x["id"]: x["verdict"] for x in doc["results"]}
    assert sorted(got) == sorted(ids), r.stderr[-3000:]
    boots = doc["environment"]["vm"]["boots"]
    assert boots[0]["ending"] == "kernel-panic" and boots[-1]["ending"] == "finished", boots
    panicked = [i for i, v in got.items() if v == "kernel-panic"]
    assert len(panicked) <= 1      # at most the case running at the NMI (it may land between cases)
    assert sum(v in TEST_VERDICTS for v in got.values()) >= len(ids) - 1
    if panicked:
        row = next(x for x in doc["results"] if x["id"] == panicked[0])
        assert "Kernel panic" in row["vm"]["console_excerpt"]
