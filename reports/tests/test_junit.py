"""The JUnit check (xml.etree) on hand-made valid and invalid reports, then on the
harness's real `--format junit` output when build/harness exists: one testcase per
case x interface, skips and failures with their reasons."""

from __future__ import annotations

import json

import pytest

from reports import junit

VALID = """<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="3" failures="1" errors="0" skipped="1">
  <testsuite name="errors" tests="3" failures="1" errors="0" skipped="1">
    <testcase classname="errors.bad-fd" name="errors.bad-fd@libaio" time="0.002"/>
    <testcase classname="errors.bad-fd" name="errors.bad-fd@io_uring" time="0.001">
      <failure message="expected EBADF@completion, observed EINVAL@submit"/>
    </testcase>
    <testcase classname="errors.bad-fd" name="errors.bad-fd@posix-aio">
      <skipped message="requires posix-aio: not available"/>
    </testcase>
  </testsuite>
</testsuites>
"""


def test_valid_report():
    cases = junit.check(VALID)
    assert [(c.name, c.status) for c in cases] == [
        ("errors.bad-fd@libaio", "pass"), ("errors.bad-fd@io_uring", "failure"),
        ("errors.bad-fd@posix-aio", "skipped")]
    assert cases[1].message.startswith("expected EBADF")


@pytest.mark.parametrize("what,old,new", [
    ("not XML", "</testsuites>", "</testsuite>"),
    ("wrong root", "<testsuites tests", "<results tests"),
    ("counter disagrees", 'name="errors" tests="3"', 'name="errors" tests="4"'),
    ("skipped counter disagrees", 'failures="1" errors="0" skipped="1">\n    <testcase', 'failures="1" errors="0" skipped="2">\n    <testcase'),
    ("testcase without name", 'name="errors.bad-fd@libaio"', ""),
    ("two outcomes", '<skipped message', '<failure message="x"/><skipped message'),
    ("time not a number", 'time="0.002"', 'time="fast"'),
])
def test_invalid_reports(what, old, new):
    assert old in VALID
    with pytest.raises(junit.JunitError):
        junit.check(VALID.replace(old, new, 1))


def test_harness_junit_output(host_run_dir):
    """The harness's real JUnit: loadable, one testcase per case x interface (the ids of the
    JSON run), every skip and failure with its reason, each failure/error typed with the
    verdict it stands for. (Formats come from separate runs, so verdicts are not compared
    across them: a case may legitimately come out differently from one run to the next.)"""
    cases = junit.check((host_run_dir / "run.junit").read_text())
    results = json.loads((host_run_dir / "run.json").read_text())["results"]
    names = [c.name for c in cases]
    assert len(names) == len(set(names)), "a case appears twice"
    assert sorted(names) == sorted(r["id"] for r in results), "not one testcase per case x interface"
    for c in cases:
        assert c.classname.startswith("aioharness."), c
        if c.status == "skipped":
            assert c.message.strip(), f"{c.name}: <skipped> without its reason"
        elif c.status == "failure":
            assert c.type in ("fail", "xpass"), (c.name, c.type)
            assert c.message.strip(), f"{c.name}: <failure> without its reason"
        elif c.status == "error":
            assert c.type in ("timeout", "crash", "broken"), (c.name, c.type)
            assert c.message.strip(), f"{c.name}: <error> without its reason"
