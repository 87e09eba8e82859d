"""Integration, bounded: a few io_uring cases against trixie's liburing 2.9 swapped in under the
system-built harness (the file the result names must be the swapped one), and a deliberately
broken libaio prefix (errors as -1/errno) that must fail the gate against the system library.
The fetch needs the Debian mirror once (then the cache): without it the swap test is skipped."""
import subprocess

import pytest

from libmatrix import broken, catalog as C, fetch as F
from libmatrix.run import Job, gate, run

FEW_URING = ["rw.*@io_uring", "errors.bad-fd@io_uring"]
LIBAIO_ERRORS = ["errors.*@libaio"]


def test_swapped_liburing_runs_and_is_the_loaded_file(harness, cases, tmp_path):
    b = next(b for b in C.load() if b.id == "liburing-2.9")
    try:
        p = F.fetch(b)
    except (OSError, subprocess.CalledProcessError, LookupError) as e:
        pytest.skip(f"cannot fetch {b.id} from the Debian mirror: {e}")
    base = run(Job("system", "system", harness=harness), tmp_path, filters=FEW_URING, run_timeout=300, cases=cases)
    job = run(Job(b.id, "swap", harness=harness, env={"LD_LIBRARY_PATH": str(p.lib)},
                  expect={"liburing": p.lib}), tmp_path, filters=FEW_URING, run_timeout=300, cases=cases)
    assert base.status == "ok", base.reason
    assert job.status == "ok", job.reason
    assert job.loaded["liburing"].startswith(str(p.lib)) and job.loaded["liburing"].endswith(".so.2.9")
    assert job.executed > 0 and job.summary.get("broken", 0) == 0
    assert base.loaded["liburing"] != job.loaded["liburing"]
    # Coverage against what the harness listed, and the library facts the probe observed in
    # this very library (liburing 2.9 retries a setup refused with EINVAL).
    assert job.applicable == base.applicable > 0 and job.coverage == 1.0, job.not_executed
    assert job.lib_facts.get("liburing.setup_retry") is True, job.lib_facts
    assert "liburing.setup_retry" in base.lib_facts


def test_broken_libaio_prefix_fails_the_gate(harness, cases, tmp_path):
    prefix = tmp_path / "broken-prefix"
    broken.make(prefix)
    base = run(Job("system", "system", harness=harness), tmp_path, filters=LIBAIO_ERRORS, run_timeout=300, cases=cases)
    job = run(Job("broken", "swap", harness=harness, env={"LD_LIBRARY_PATH": str(prefix / "lib")},
                  expect={"libaio": prefix / "lib"}), tmp_path, filters=LIBAIO_ERRORS, run_timeout=300, cases=cases)
    assert base.status == job.status == "ok", (base.reason, job.reason)
    assert base.summary.get("fail", 0) == 0, "the system libaio already fails: the gate proves nothing"
    assert job.summary.get("fail", 0) > 0
    assert gate(base, job, tmp_path) == 1, (tmp_path / "broken.swap.gate.txt").read_text()
