"""Coverage per library build: executed/applicable where applicable is what the harness lists
for the build's interface and selection, skips and broken cases are not executed (each counted
under its reason), a case the result lacks counts as not executed, and a build under the floor
is reported with the numbers."""
from libmatrix import cli
from libmatrix.run import Job, coverage_problem, not_executed


def job(total, skip=0, broken=0, applicable=None) -> Job:
    j = Job("liburing-2.9", "swap")
    j.summary = {"total": total, "skip": skip, "broken": broken, "pass": total - skip - broken}
    j.applicable = total if applicable is None else applicable
    j.expect = {"liburing": "/x"}
    return j


def test_skips_and_broken_are_not_executed():
    j = job(100, skip=5, broken=2)
    assert j.executed == 93
    assert abs(j.coverage - 0.93) < 1e-9
    assert coverage_problem(j, 0.9) == ""


def test_under_the_floor_says_how_far():
    j = job(100, skip=11)
    assert coverage_problem(j, 0.9) == "executed 89/100 applicable cases (89 % < 90 %)"


def test_a_run_that_stopped_early_is_measured_against_the_listed_cases():
    # 50 results of 120 listed: the denominator is the list, not the result's total.
    j = job(50, applicable=120)
    assert "50/120" in coverage_problem(j, 0.9)


def test_no_applicable_cases_is_a_problem():
    assert coverage_problem(job(0, applicable=0), 0.9).startswith("no applicable cases")


def test_not_executed_counts_each_reason_and_absent_cases():
    results = [
        {"id": "a@io_uring", "verdict": "pass"},
        {"id": "b@io_uring", "verdict": "skip", "reason": "requires io_uring.op.FUTEX_WAIT"},
        {"id": "c@io_uring", "verdict": "skip", "reason": "requires io_uring.op.FUTEX_WAIT"},
        {"id": "d@io_uring", "verdict": "broken", "reason": "fault did not fire"},
    ]
    listed = ["a@io_uring", "b@io_uring", "c@io_uring", "d@io_uring", "e@io_uring"]
    assert not_executed(results, listed) == {
        "skip: requires io_uring.op.FUTEX_WAIT": 2,
        "broken: fault did not fire": 1,
        "absent from the result (the run stopped early)": 1,
    }


def test_table_shows_executed_over_applicable_and_the_gate():
    j = job(100, skip=4)
    j.status, j.gate_rc, j.gate_changes = "ok", 0, {"regressions": 0, "allowed": 1, "other": 0}
    row = cli.table([j], {}).splitlines()[1]
    assert "96/100 (96 %)" in row and "1 changed (1 allowed)" in row
    j.gate_rc, j.gate_changes = 1, {"regressions": 3, "allowed": 0, "other": 0}
    assert "REGRESSED 3" in cli.table([j], {}).splitlines()[1]


def test_differences_list_facts_changed_cases_and_own_skips(tmp_path):
    import json
    base = job(10, skip=1)
    base.build, base.mode, base.expect = "system-io_uring", "system", {}
    base.lib_facts = {"liburing.setup_retry": False}
    base.not_executed = {"skip: needs a VM": 1}
    j = job(10, skip=2)
    j.lib_facts = {"liburing.setup_retry": True}
    j.not_executed = {"skip: needs a VM": 1, "broken: setup failed: EAGAIN@setup": 1}
    (tmp_path / f"{j.name}.gate.json").write_text(json.dumps({"changes": [
        {"id": "faults.x@io_uring", "base": "EINVAL@setup", "new": "1@submit", "allowed": "keyed on a fact"}]}))
    text = cli.differences([j], {"io_uring": base}, tmp_path)
    assert "liburing.setup_retry=True (system False)" in text
    assert "changed faults.x@io_uring: EINVAL@setup -> 1@submit [allowed]" in text
    assert "not executed 1: broken: setup failed: EAGAIN@setup" in text
    assert "  not executed 1: skip: needs a VM" not in text.split("system-io_uring:")[0]
