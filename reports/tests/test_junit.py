"""The JUnit check (xml.etree) on hand-made valid and invalid reports, then on the
harness's real `--format junit` output when build/harness exists: one testcase per
case x interface, skips and failures with their reasons."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from conftest import ROOT, results_once_each
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


XSD = ROOT / "reports" / "schema" / "junit-10.xsd"


def xmllint(path) -> subprocess.CompletedProcess:
    """The Jenkins JUnit schema (junit-10.xsd, reports/schema/) checked by libxml2's xmllint."""
    if not shutil.which("xmllint"):
        pytest.skip("xmllint is not installed (apt-get install libxml2-utils)")
    return subprocess.run(["xmllint", "--noout", "--schema", str(XSD), str(path)],
                          capture_output=True, text=True, timeout=300)


def junitparser_cases(path):
    junitparser = pytest.importorskip("junitparser", reason="python3-junitparser is not installed")
    xml = junitparser.JUnitXml.fromfile(str(path))
    return [(suite, case) for suite in xml for case in suite]


def test_harness_junit_output(host_run_dir):
    """The harness's real JUnit, from the same run as its JSON: valid to the Jenkins schema,
    loadable in junitparser, one testcase per case x interface, each verdict in the element
    the vocabulary maps it to (a verdict that fails the run is a failure or error, skip and
    xfail are skipped, xpass passes and says so), suites with time, timestamp and hostname."""
    from reports import vocabulary as V
    path = host_run_dir / "run.junit"
    p = xmllint(path)
    assert p.returncode == 0, p.stderr[-3000:]
    cases = junit.check(path.read_text())
    results = results_once_each(host_run_dir, [c.name for c in cases], "testcase")
    for c in cases:
        v = results[c.name]["verdict"]
        assert c.classname.startswith("aioharness."), c
        want = ("failure" if v == "fail" else "error" if v in V.FAILS_RUN else
                "skipped" if v in ("skip", "xfail") else "pass")
        assert c.status == want, (c.name, v, c.status)
        if c.status in ("skipped", "failure", "error"):
            assert c.message.strip(), f"{c.name}: <{c.status}> without its reason"
        if c.status in ("failure", "error"):
            assert c.type == v, (c.name, c.type)
    for suite, case in junitparser_cases(path):
        assert suite.time is not None and suite.timestamp and suite.hostname, suite.name
    assert len(junitparser_cases(path)) == len(results)


def test_junit_with_control_characters(fixture_runs):
    """A run whose sources and known-defect reasons hold ESC, BEL, backspace, DEL, SOH, a
    newline, '<', '&' and quotes: the JUnit is valid XML 1.0 (no `&#x1b;`), validates against
    the Jenkins schema, loads in junitparser, and keeps the text readable; an xpass is a
    passed testcase whose system-out says XPASS."""
    for name in ("ok", "failing"):
        path = fixture_runs[name] / "run.junit"
        text = path.read_text(encoding="utf-8")
        assert "&#x1" not in text and "\x1b" not in text
        p = xmllint(path)
        assert p.returncode == 0, p.stderr[-3000:]
        got = {case.name: (suite, case) for suite, case in junitparser_cases(path)}
        results = json.loads((fixture_runs[name] / "run.json").read_text())["results"]
        assert sorted(got) == sorted(r["id"] for r in results)
    got = {case.name: case for _, case in junitparser_cases(fixture_runs["ok"] / "run.junit")}
    xpass = got["outputs.defect-gone@kernel-aio"]
    assert not xpass.result and "XPASS" in (xpass.system_out or "")
    xfail = got["outputs.known-defect@kernel-aio"]
    assert [type(r).__name__ for r in xfail.result] == ["Skipped"]
    assert "\u241b[1mbold" in xfail.result[0].message  # ESC shown as its Control Picture
    assert "fixture ref \u2401\u241f" in xfail.result[0].message
    skip = got["outputs.needs-a-vm@kernel-aio"]
    assert [type(r).__name__ for r in skip.result] == ["Skipped"] and "vm_guest" in skip.result[0].message
    fail = {case.name: case for _, case in junitparser_cases(fixture_runs["failing"] / "run.junit")}
    (f,) = fail["outputs.plain-fail@kernel-aio"].result
    assert type(f).__name__ == "Failure" and "EINVAL" in f.text and "EBADF" in f.text
