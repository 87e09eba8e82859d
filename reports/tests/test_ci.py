"""The CI definitions in ci/ parse as YAML, call only scripts that exist in the repo, do
every step the pipeline promises (build, unit tests, host suite, sharded VM matrix, report,
gate against a committed baseline, publish), and shard the VM matrix so that the shards
1..n together cover every kernel x device cell exactly once with no idle shard."""

from __future__ import annotations

import os
import re
import subprocess
import tomllib

import pytest

from conftest import ROOT
from reports import gate

yaml = pytest.importorskip("yaml", reason="python3-yaml is not installed (apt-get install python3-yaml)")

GITHUB = ROOT / "ci" / "github" / "aioharness.yml"
GITLAB = ROOT / "ci" / "gitlab" / ".gitlab-ci.yml"
SCRIPT_RE = re.compile(r"(?<![\w/.-])\.?/?((?:scripts|ci)/[\w./-]+)")


def github():
    return yaml.safe_load(GITHUB.read_text())


def gitlab():
    return yaml.safe_load(GITLAB.read_text())


def github_commands() -> dict[str, list[str]]:
    return {name: [s["run"] for s in job.get("steps", []) if "run" in s]
            for name, job in github()["jobs"].items()}


def gitlab_commands() -> dict[str, list[str]]:
    doc = gitlab()
    default = doc.get("default", {}).get("before_script", [])
    out = {}
    for name, job in doc.items():
        if not isinstance(job, dict) or "script" not in job:
            continue
        out[name] = list(job.get("before_script", default)) + list(job["script"])
    return out


@pytest.mark.parametrize("commands", [github_commands, gitlab_commands], ids=["github", "gitlab"])
def test_called_scripts_exist(commands):
    called = set()
    for cmds in commands().values():
        for cmd in cmds:
            called.update(SCRIPT_RE.findall(cmd))
    assert called, "no repo scripts found in the jobs"
    missing = sorted(p for p in called if not (ROOT / p).is_file())
    assert not missing, f"jobs call scripts missing from the repo: {missing}"
    not_exec = sorted(p for p in called if not os.access(ROOT / p, os.X_OK))
    assert not not_exec, f"scripts not executable: {not_exec}"


@pytest.mark.parametrize("commands", [github_commands, gitlab_commands], ids=["github", "gitlab"])
def test_pipeline_steps(commands):
    text = "\n".join(c for cmds in commands().values() for c in cmds)
    for step in ("./scripts/build", "./scripts/test", "./scripts/matrix ",
                 "--shard ", "./scripts/report results --out public", "./scripts/gate "):
        assert step in text, f"no job runs {step!r}"
    (gate_cmd,) = [c for c in text.splitlines() if "./scripts/gate " in c]
    args = gate_cmd.split("./scripts/gate ", 1)[1].split()
    base = ROOT / args[0]
    assert base.is_dir(), f"the gate's baseline {args[0]} is not in the repo"
    allow = args[args.index("--allow") + 1]
    gate.load_allow(str(ROOT / allow))  # raises on a malformed allow-list
    assert "pipefail" in gate_cmd, "piping the gate into tee must keep its exit status"


def test_github_publishes():
    jobs = github()["jobs"]
    uses = [s.get("uses", "") for s in jobs["report"]["steps"]]
    assert any(u.startswith("actions/upload-pages-artifact") for u in uses)
    assert any(u.startswith("actions/upload-artifact") for u in uses)
    assert jobs["report"]["needs"] == ["host", "matrix"]
    assert any(s.get("uses", "").startswith("actions/deploy-pages") for s in jobs["pages"]["steps"])
    assert jobs["pages"]["permissions"] == {"pages": "write", "id-token": "write"}
    assert github()[True]  # the `on:` key (YAML 1.1 reads it as true)


def test_gitlab_publishes():
    doc = gitlab()
    assert doc["pages"]["artifacts"]["paths"] == ["public/"]
    assert any("index.html" in c for c in doc["pages"]["script"])
    assert {n["job"] for n in doc["report"]["needs"]} == {"host", "matrix"}
    stages = doc["stages"]
    for job in ("host", "matrix", "report", "pages"):
        assert doc[job].get("stage") in stages


def _matrix_cells() -> list[tuple[str, str]]:
    kernels = tomllib.loads((ROOT / "vm" / "kernels.toml").read_text())["kernel"]
    series = [k["series"] for k in kernels if k.get("default")]
    devs_gh = github()["env"]["MATRIX_DEVICES"].split(",")
    devs_gl = gitlab()["variables"]["MATRIX_DEVICES"].split(",")
    assert devs_gh == devs_gl, "the two CI systems run different device lists"
    return [(k, d) for k in series for d in devs_gh]


def _github_shards() -> tuple[list[int], int]:
    job = github()["jobs"]["matrix"]
    shards = job["strategy"]["matrix"]["shard"]
    (cmd,) = [c for c in github_commands()["matrix"] if "--shard" in c]
    m = re.search(r"--shard \$\{\{ matrix\.shard \}\}/(\d+)", cmd)
    assert m, f"shard argument not i/n from the job matrix: {cmd}"
    assert str(int(m.group(1))) in job["name"], "job name shows a different shard count"
    return shards, int(m.group(1))


def _gitlab_shards() -> tuple[list[int], int]:
    job = gitlab()["matrix"]
    n = job["parallel"]
    (cmd,) = [c for c in job["script"] if "--shard" in c]
    assert '--shard "$CI_NODE_INDEX/$CI_NODE_TOTAL"' in cmd
    return list(range(1, n + 1)), n  # GitLab's CI_NODE_INDEX runs 1..parallel


def _targets(devices: str, shard: str) -> list[str]:
    """The kernel x device targets scripts/matrix itself assigns to one shard."""
    p = subprocess.run([str(ROOT / "scripts" / "matrix"), "--devices", devices, "--shard", shard,
                        "--list-targets"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, f"scripts/matrix --shard {shard} --list-targets: {p.stderr.strip()}"
    return p.stdout.split("\n")[:-1]


@pytest.mark.parametrize("shards", [_github_shards, _gitlab_shards], ids=["github", "gitlab"])
def test_shard_arithmetic_covers_matrix(shards):
    cells = _matrix_cells()
    indices, n = shards()
    assert indices == list(range(1, n + 1)), f"shard indices {indices} are not 1..{n}"
    assert 1 <= n <= len(cells), f"{n} shards for {len(cells)} cells leaves a shard idle"
    devices = github()["env"]["MATRIX_DEVICES"]
    whole = _targets(devices, "1/1")
    assert sorted(whole) == sorted(f"{k} {d}" for k, d in cells), "matrix differs from kernels.toml x devices"
    per_shard = [_targets(devices, f"{i}/{n}") for i in indices]
    assert all(per_shard), f"an idle shard: {per_shard}"
    seen = [t for s in per_shard for t in s]
    assert sorted(seen) == sorted(whole), "shards miss a target or run one twice"
    assert _github_shards()[1] == _gitlab_shards()[1], "the CI systems shard differently"


@pytest.mark.parametrize("commands", [github_commands, gitlab_commands], ids=["github", "gitlab"])
def test_host_catalog_runs_once(commands):
    """The host catalog runs once per pipeline: scripts/test runs ci/host-run.sh (one harness
    invocation writing every format) into AIOH_HOST_RUN_DIR, which the job uploads; no job
    runs the catalog again."""
    text = "\n".join(c for cmds in commands().values() for c in cmds)
    assert "ci/host-run.sh" not in text, "a job runs the host suite a second time"
    assert "ci/host-run.sh" in (ROOT / "scripts" / "test").read_text()
    assert "-E '^conformance_suite$'" in (ROOT / "scripts" / "test").read_text()
    run = [line for line in (ROOT / "ci" / "host-run.sh").read_text().splitlines() if '"$harness"' in line]
    assert len(run) == 1, run
    body = (ROOT / "ci" / "host-run.sh").read_text()
    for fmt in ("json", "jsonl", "junit", "ktap"):
        assert f'--output "{fmt}:' in body
    gh = github()["jobs"]["host"]["steps"]
    (test_step,) = [st for st in gh if st.get("run") == "./scripts/test"]
    assert test_step["env"]["AIOH_HOST_RUN_DIR"] == "results/host"
    assert gitlab()["host"]["variables"]["AIOH_HOST_RUN_DIR"] == "results/host"
