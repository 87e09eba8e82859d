"""The KTAP parser against the kernel's own examples in Documentation/dev-tools/ktap.rst
(valid), against breaches of that spec's "must" rules made from those examples (invalid),
and against the harness's real `--format ktap` output when build/harness exists."""

from __future__ import annotations

import json

import pytest

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
    the JSON run), every SKIP with its reason, every other non-pass preceded by a diagnostic
    line naming its verdict ("# <id>: <verdict> ..."), and a known defect written as XFAIL.
    (Formats come from separate runs, so verdicts are not compared across them.)"""
    doc = ktap.parse((host_run_dir / "run.ktap").read_text())
    assert not [w for w in doc.warnings if "TIMEOUT" in w or "parent" in w], doc.warnings
    leaves = [t for _, t in doc.walk() if t.subtests is None]
    results = json.loads((host_run_dir / "run.json").read_text())["results"]
    descs = [t.description for t in leaves]
    assert len(descs) == len(set(descs)), "a case appears twice"
    assert sorted(descs) == sorted(r["id"] for r in results), "not one result per case x interface"
    for t in leaves:
        if t.directive == "SKIP":
            assert t.diagnostic, f"{t.description}: SKIP without a reason"
            continue
        if t.ok and t.directive is None:
            continue
        said = [d for d in t.diagnostics if d.startswith(t.description + ": ")]
        assert said, f"line {t.lineno}: {t.description} is {t.status} with no diagnostic naming why"
        verdict = said[-1][len(t.description) + 2:].split(" ", 1)[0]
        if verdict == "xfail":
            # ktap.rst: "XFAIL, which indicates that a test is expected to fail"; its table of
            # differences from TAP lists the TODO directive as "not recognized" in KTAP.
            assert t.directive == "XFAIL", (
                f"line {t.lineno}: {t.description} is xfail, written as "
                f"{t.directive or 'no directive'}; KTAP wants # XFAIL")
        else:
            assert not t.ok, f"line {t.lineno}: {t.description} is {verdict} but 'ok'"
