"""The KTAP parser against the kernel's own examples in Documentation/dev-tools/ktap.rst
(valid), against breaches of that spec's "must" rules made from those examples (invalid),
and against the harness's real `--format ktap` output when build/harness exists."""

from __future__ import annotations

import glob
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import results_once_each
from reports import ktap

# Quoted from Documentation/dev-tools/ktap.rst, section "Nested tests".
SPEC_NESTED_TWO = """\
KTAP version 1
1..1
  KTAP version 1
  1..2
  ok 1 test_1
  not ok 2 test_2
# example failed
not ok 1 example
"""

# Same section: "An example format with multiple levels of nested testing".
SPEC_MULTI_LEVEL = """\
KTAP version 1
1..2
  KTAP version 1
  1..2
    KTAP version 1
    1..2
    not ok 1 test_1
    ok 2 test_2
  not ok 1 test_3
  ok 2 test_4 # SKIP
not ok 1 example_test_1
ok 2 example_test_2
"""

# Section "Example KTAP output".
SPEC_EXAMPLE = """\
KTAP version 1
1..1
  KTAP version 1
  1..3
    KTAP version 1
    1..1
    # test_1: initializing test_1
    ok 1 test_1
  ok 1 example_test_1
    KTAP version 1
    1..2
    ok 1 test_1 # SKIP test_1 skipped
    ok 2 test_2
  ok 2 example_test_2
    KTAP version 1
    1..3
    ok 1 test_1
    # test_2: FAIL
    not ok 2 test_2
    ok 3 test_3 # SKIP test_3 skipped
  not ok 3 example_test_3
not ok 1 main_test
"""

# Section "Test case result lines": the example result lines, each wrapped as a document.
SPEC_RESULT_LINES = [
    ("ok 1 test_case_name", "test_case_name", "pass", None, ""),
    ("not ok 1 test_case_name", "test_case_name", "fail", None, ""),
    ("ok 1 test # SKIP necessary dependency unavailable", "test", "skip", "SKIP",
     "necessary dependency unavailable"),
    ("not ok 1 test # TIMEOUT 30 seconds", "test", "timeout", "TIMEOUT", "30 seconds"),
    ("ok 1 check return code # rcode=0", "check return code", "pass", None, "rcode=0"),
]


def test_spec_example_hierarchy():
    """The hierarchy the spec says its example defines, checked node by node."""
    doc = ktap.parse(SPEC_EXAMPLE)
    (main,) = doc.root.tests
    assert (main.description, main.status) == ("main_test", "fail")
    subs = main.subtests.tests
    assert [(t.description, t.status) for t in subs] == [
        ("example_test_1", "pass"), ("example_test_2", "pass"), ("example_test_3", "fail")]
    t1 = subs[0].subtests.tests[0]
    assert t1.diagnostics == ["test_1: initializing test_1"]
    assert [(t.description, t.status, t.diagnostic) for t in subs[1].subtests.tests] == [
        ("test_1", "skip", "test_1 skipped"), ("test_2", "pass", "")]
    third = subs[2].subtests.tests
    assert [(t.description, t.status) for t in third] == [
        ("test_1", "pass"), ("test_2", "fail"), ("test_3", "skip")]
    assert third[1].diagnostics == ["test_2: FAIL"]
    assert doc.warnings == []


def test_spec_nested_examples():
    two = ktap.parse(SPEC_NESTED_TWO)
    (example,) = two.root.tests
    assert example.status == "fail" and example.diagnostics == ["example failed"]
    assert [t.status for t in example.subtests.tests] == ["pass", "fail"]
    multi = ktap.parse(SPEC_MULTI_LEVEL)
    paths = {"/".join(p): t.status for p, t in multi.walk()}
    assert paths == {
        "example_test_1": "fail", "example_test_1/test_3": "fail",
        "example_test_1/test_3/test_1": "fail", "example_test_1/test_3/test_2": "pass",
        "example_test_1/test_4": "skip", "example_test_2": "pass"}


@pytest.mark.parametrize("line,desc,status,directive,diag", SPEC_RESULT_LINES)
def test_spec_result_lines(line, desc, status, directive, diag):
    (t,) = ktap.parse(f"KTAP version 1\n1..1\n{line}\n").root.tests
    assert (t.description, t.status, t.directive, t.diagnostic) == (desc, status, directive, diag)


def test_unknown_lines_are_allowed():
    # "Unknown lines": console noise anywhere, indented or not, does not change results.
    text = "[    1.0] booting\nKTAP version 1\n1..2\nrandom kernel message\nok 1 a\n   odd indent\nok 2 b\n"
    doc = ktap.parse(text)
    assert [t.status for t in doc.root.tests] == ["pass", "pass"]
    assert [n for n, _ in doc.unknown] == [1, 4, 6]


def test_other_versions_accepted():
    # "most parsers ... will accept the other versions listed here for compatibility".
    for v in ("TAP version 13", "TAP version 14"):
        assert ktap.parse(f"{v}\n1..1\nok 1 x\n").root.version == v


def _mutate(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


# Each invalid document is a spec example with one "must" broken, and the rule it breaks.
INVALID = [
    ("no version line", SPEC_NESTED_TWO.split("\n", 1)[1]),  # "All KTAP ... begin with a version line"
    ("first number not 1", _mutate(SPEC_MULTI_LEVEL, "\nnot ok 1 example_test_1", "\nnot ok 0 example_test_1")),
    ("number skips", _mutate(SPEC_EXAMPLE, "  not ok 3 example_test_3", "  not ok 4 example_test_3")),
    ("number repeats", _mutate(SPEC_MULTI_LEVEL, "ok 2 example_test_2", "ok 1 example_test_2")),
    ("plan count wrong", _mutate(SPEC_EXAMPLE, "  1..3\n    KTAP", "  1..4\n    KTAP")),
    ("description with #", _mutate(SPEC_NESTED_TWO, "ok 1 test_1", "ok 1 test#1")),
    ("parent result missing (cut short)", SPEC_EXAMPLE.rsplit("not ok 1 main_test", 1)[0]),
    ("subtest not indented a level", _mutate(SPEC_NESTED_TWO, "  KTAP version 1\n  1..2\n  ok 1 test_1\n  not ok 2 test_2",
                                             "    KTAP version 1\n    1..2\n    ok 1 test_1\n    not ok 2 test_2")),
    ("plan after results", "KTAP version 1\nok 1 a\n1..1\n"),
    ("result before version line", "ok 1 a\nKTAP version 1\n1..1\nok 1 a\n"),
    ("empty", ""),
]


@pytest.mark.parametrize("what,text", INVALID, ids=[w for w, _ in INVALID])
def test_invalid_ktap_rejected(what, text):
    with pytest.raises(ktap.KtapError):
        ktap.parse(text)


def test_should_rules_are_warnings():
    doc = ktap.parse("KTAP version 1\n1..1\nok 1 slow # TIMEOUT 30 seconds\n")
    assert any("TIMEOUT" in w for w in doc.warnings)
    doc = ktap.parse("KTAP version 1\n1..1\n  KTAP version 1\n  1..1\n  not ok 1 a\nok 1 parent\n")
    assert any("parent passes" in w for w in doc.warnings)
    doc = ktap.parse("KTAP version 1\nok 1 a\n")
    assert any("no plan" in w for w in doc.warnings)


def test_harness_ktap_output(host_run_dir):
    """The harness's real KTAP: valid to the spec, one result per case x interface (the ids of
    the JSON of the same run), every SKIP with its reason, every other non-pass preceded by a
    diagnostic line naming its verdict ("# <id>: <verdict> ..."), and each verdict written
    as kselftest does: a known defect `ok # XFAIL`, one that did not reproduce `ok # XPASS`,
    "not ok" exactly for the verdicts that fail the run."""
    from reports import vocabulary as V
    doc = ktap.parse((host_run_dir / "run.ktap").read_text())
    assert not [w for w in doc.warnings if "TIMEOUT" in w or "parent" in w], doc.warnings
    leaves = [t for _, t in doc.walk() if t.subtests is None]
    results = results_once_each(host_run_dir, [t.description for t in leaves], "result")
    for t in leaves:
        verdict = results[t.description]["verdict"]
        assert t.ok == (verdict not in V.FAILS_RUN), f"line {t.lineno}: {verdict} written as ok={t.ok}"
        if t.directive == "SKIP":
            assert verdict == "skip" and t.diagnostic, f"{t.description}: SKIP without a reason"
            continue
        if verdict == "pass":
            assert t.directive is None
            continue
        said = [d for d in t.diagnostics if d.startswith(t.description + ": ")]
        assert said, f"line {t.lineno}: {t.description} is {t.status} with no diagnostic naming why"
        assert said[-1][len(t.description) + 2:].split(" ", 1)[0] == verdict
        want = {"xfail": "XFAIL", "xpass": "XPASS", "timeout": "TIMEOUT", "fail": None}.get(verdict, "ERROR")
        assert t.directive == want, f"line {t.lineno}: {verdict} written with directive {t.directive}"


# ---- real consumers -------------------------------------------------------------------------

def _prove(path):
    """Debian's perl `prove`, reading the file as a TAP stream (`--exec cat`)."""
    if not shutil.which("prove"):
        pytest.skip("prove (perl) is not installed")
    return subprocess.run(["prove", "-v", "--exec", "cat", str(path)], capture_output=True, text=True,
                          timeout=120)


def test_prove_passes_a_run_with_known_defects(fixture_runs):
    """A run whose exit status is 0 with a pass, a skip, an xfail and an xpass: prove says
    PASS: all its tests successful."""
    k = (fixture_runs["ok"] / "run.ktap").read_text()
    assert " # XFAIL " in k and " # XPASS " in k and " # SKIP " in k, k
    p = _prove(fixture_runs["ok"] / "run.ktap")
    assert p.returncode == 0 and "Result: PASS" in p.stdout, p.stdout + p.stderr
    assert "All tests successful." in p.stdout


def test_prove_fails_a_failing_run(fixture_runs):
    p = _prove(fixture_runs["failing"] / "run.ktap")
    assert p.returncode != 0 and "Result: FAIL" in p.stdout, p.stdout + p.stderr
    assert "Failed test:  " in p.stdout or "Failed tests:" in p.stdout


def test_prove_on_a_full_host_run(host_run_dir):
    """prove agrees with the harness's exit status on a whole real run."""
    summary = json.loads((host_run_dir / "run.json").read_text())["summary"]
    from reports import vocabulary as V
    failed = any(summary.get(v) for v in V.FAILS_RUN)
    p = _prove(host_run_dir / "run.ktap")
    assert ("Result: FAIL" if failed else "Result: PASS") in p.stdout, p.stdout[-3000:]


# The rules of the kernel's own KTAP consumer, tools/testing/kunit/kunit_parser.py (Linux
# 6.x): a result line is TEST_RESULT `^\s*(ok|not ok) ([0-9]+) ?(:?- )?([^#]*)( # .*)?$`; it is
# SKIPPED when it matches TEST_RESULT_SKIP `... # SKIP ?(.*)$`, else SUCCESS for "ok" and
# FAILURE for "not ok" (no other directive changes the status); numbers must run 1, 2, ...
# (else an error is counted); fewer results than the plan is a crashed "missing expected
# subtest"; anything else is a diagnostic line. The run's status: crashed, else failed, else
# success when anything passed, else skipped.
KUNIT_RESULT = re.compile(r"^\s*(ok|not ok) ([0-9]+) ?(:?- )?([^#]*)( # .*)?$")
KUNIT_SKIP = re.compile(r"^\s*(ok|not ok) ([0-9]+) ?(:?- )?(.*) # SKIP ?(.*)$")
KUNIT_PLAN = re.compile(r"^\s*1\.\.([0-9]+)")


def kunit_rules(text: str) -> dict:
    lines = text.splitlines()
    assert lines and re.match(r"^\s*KTAP version 1$", lines[0]), "kunit: no KTAP version line"
    counts = {"passed": 0, "failed": 0, "skipped": 0, "crashed": 0, "errors": 0, "names": []}
    plan, expected = None, 1
    for line in lines[1:]:
        m = KUNIT_PLAN.match(line)
        if m and plan is None and expected == 1:
            plan = int(m.group(1))
            continue
        m = KUNIT_RESULT.match(line)
        if not m:
            continue
        skip = KUNIT_SKIP.match(line)
        if int(m.group(2)) != expected:
            counts["errors"] += 1
        expected += 1
        counts["names"].append((skip.group(4) if skip else m.group(4)).strip())
        counts["skipped" if skip else "passed" if m.group(1) == "ok" else "failed"] += 1
    if plan is not None and expected - 1 < plan:
        counts["crashed"] += plan - (expected - 1)
    counts["status"] = ("CRASHED" if counts["crashed"] else "FAILURE" if counts["failed"] else
                        "SUCCESS" if counts["passed"] else "SKIPPED")
    return counts


def test_kunit_rules_on_the_fixture_runs(fixture_runs):
    ok = kunit_rules((fixture_runs["ok"] / "run.ktap").read_text())
    results = json.loads((fixture_runs["ok"] / "run.json").read_text())["results"]
    assert ok["status"] == "SUCCESS" and ok["errors"] == 0, ok
    assert ok["names"] == [r["id"] for r in results]
    assert ok["skipped"] == sum(r["verdict"] == "skip" for r in results)
    assert ok["failed"] == 0 and ok["passed"] == len(results) - ok["skipped"]
    bad = kunit_rules((fixture_runs["failing"] / "run.ktap").read_text())
    assert bad["status"] == "FAILURE" and bad["failed"] == 1 and bad["errors"] == 0, bad


def _real_kunit_parser():
    """The kernel's kunit_parser.py, never committed here: from $AIOH_KUNIT_DIR (a
    tools/testing/kunit directory), else extracted once from Debian's linux-source tarball
    when it is installed."""
    d = os.environ.get("AIOH_KUNIT_DIR")
    if not d:
        cache = Path(os.environ.get("AIOH_CACHE") or Path.home() / ".cache" / "aioharness") / "kunit"
        tars = sorted(glob.glob("/usr/src/linux-source-*.tar.xz"))
        if not (cache / "kunit_parser.py").is_file() and tars:
            cache.mkdir(parents=True, exist_ok=True)
            top = os.path.basename(tars[-1])[: -len(".tar.xz")]
            members = [f"{top}/tools/testing/kunit/{f}" for f in ("kunit_parser.py", "kunit_printer.py")]
            subprocess.run(["tar", "-xJf", tars[-1], "-C", str(cache), "--strip-components=4", *members],
                           check=False, capture_output=True, timeout=600)
        d = str(cache) if (cache / "kunit_parser.py").is_file() else None
    if not d:
        pytest.skip("the kernel's kunit_parser.py is not here: set AIOH_KUNIT_DIR to a "
                    "tools/testing/kunit directory or install linux-source (the rules are "
                    "checked by test_kunit_rules_on_the_fixture_runs)")
    sys.path.insert(0, d)
    try:
        import kunit_parser
        import kunit_printer
    finally:
        sys.path.remove(d)
    return kunit_parser, kunit_printer


def test_real_kunit_parser(fixture_runs):
    kp, printer = _real_kunit_parser()
    for name, want in (("ok", "SUCCESS"), ("failing", "FAILURE")):
        text = (fixture_runs[name] / "run.ktap").read_text()
        # Linux 6.1's takes the lines only; later ones also a printer.
        takes_printer = len(inspect.signature(kp.parse_run_tests).parameters) > 1
        test = kp.parse_run_tests(text.splitlines(), *([printer.null_printer] if takes_printer else []))
        assert test.status.name == want and test.counts.errors == 0, (name, test.status, test.counts)
        results = json.loads((fixture_runs[name] / "run.json").read_text())["results"]
        assert [t.name for t in test.subtests] == [r["id"] for r in results]
