"""Checks a JUnit XML report with xml.etree, the way CI systems read it.

The harness's `--format junit` must load in common CI systems (GitHub/GitLab test reports,
Jenkins): a <testsuites> or <testsuite> root, each <testcase> with a name and classname, at
most one of <failure>/<error>/<skipped> per case (a skip or failure carrying its reason in
`message`), and suite counters (tests, failures, errors, skipped) that agree with the
cases they count. check() returns the cases or raises JunitError naming what is wrong.
"""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET


class JunitError(ValueError):
    pass


@dataclasses.dataclass
class Case:
    suite: str
    classname: str
    name: str
    status: str  # pass failure error skipped
    message: str
    time: float | None
    type: str = ""  # the failure/error element's type attribute, if any


def _int_attr(el, name):
    v = el.get(name)
    if v is None:
        return None
    try:
        return int(v)
    except ValueError:
        raise JunitError(f"<{el.tag} {name}={v!r}> is not an integer") from None


def check(text: str) -> list[Case]:
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        raise JunitError(f"not well-formed XML: {e}") from None
    if root.tag == "testsuites":
        suites = list(root)
        if any(s.tag != "testsuite" for s in suites):
            raise JunitError("<testsuites> holds something other than <testsuite>")
    elif root.tag == "testsuite":
        suites = [root]
    else:
        raise JunitError(f"root element is <{root.tag}>, not <testsuites> or <testsuite>")
    cases: list[Case] = []
    for s in suites:
        sname = s.get("name")
        if not sname:
            raise JunitError("<testsuite> without a name")
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        for tc in s.iter("testcase"):
            name, cls = tc.get("name"), tc.get("classname")
            if not name or not cls:
                raise JunitError(f"<testcase> in {sname} without name/classname")
            marks = [c for c in tc if c.tag in ("failure", "error", "skipped")]
            if len(marks) > 1:
                raise JunitError(f"{cls}.{name}: more than one of failure/error/skipped")
            status, message, kind = "pass", "", ""
            if marks:
                kind = marks[0].get("type") or ""
                status = {"failure": "failure", "error": "error", "skipped": "skipped"}[marks[0].tag]
                message = marks[0].get("message") or (marks[0].text or "").strip()
            t = tc.get("time")
            try:
                tval = float(t) if t is not None else None
            except ValueError:
                raise JunitError(f"{cls}.{name}: time={t!r} is not a number") from None
            counts["tests"] += 1
            counts[{"pass": "tests", "failure": "failures", "error": "errors",
                    "skipped": "skipped"}[status]] += 0 if status == "pass" else 1
            cases.append(Case(sname, cls, name, status, message, tval, kind))
        for key, n in counts.items():
            declared = _int_attr(s, key)
            if declared is not None and declared != n:
                raise JunitError(f"<testsuite name={sname!r}> says {key}={declared} but holds {n}")
    if root.tag == "testsuites":
        for key in ("tests", "failures", "errors", "skipped"):
            declared = _int_attr(root, key)
            total = sum(1 for c in cases if key == "tests" or c.status == {"failures": "failure",
                        "errors": "error", "skipped": "skipped"}[key])
            if declared is not None and declared != total:
                raise JunitError(f"<testsuites> says {key}={declared} but holds {total}")
    return cases
