"""The published report in reports/published/ is exactly what its committed raw results
render to, and every column carries its environment (kernel, distro, libraries; QEMU,
accelerator and device for VM columns), so the pages cannot drift from their data."""

from __future__ import annotations

from conftest import ROOT, run_script
from reports import results as R

PUB = ROOT / "reports" / "published"


def test_pages_match_their_results(tmp_path):
    title = (PUB / "summary.md").read_text().splitlines()[0].removeprefix("# ")
    p = run_script("report", str(PUB / "results"), "--out", str(tmp_path), "--title", title)
    assert p.returncode == 0, p.stderr
    for name in ("summary.md", "report.html"):
        assert (tmp_path / name).read_text() == (PUB / name).read_text(), \
            f"reports/published/{name} is stale: regenerate it (see reports/published/README.md)"


def test_every_column_has_its_environment():
    cols = R.columns(R.load([str(PUB / "results")]))
    assert len(cols) >= 2
    for c in cols:
        for run in c.runs:
            env = run.environment
            assert not run.truncated, run.path
            for key in ("kernel_release", "distro", "libraries", "facts", "interfaces"):
                assert env.get(key), f"{run.path}: environment lacks {key}"
            if c.device != "host":
                for key in ("qemu", "accel", "device", "kernel"):
                    assert run.vm.get(key), f"{run.path}: environment.vm lacks {key}"
