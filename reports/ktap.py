"""A KTAP version 1 parser and validator, written to the kernel's
Documentation/dev-tools/ktap.rst ("The Kernel Test Anything Protocol (KTAP), version 1").

It exists to check the harness's `--format ktap` output against the spec rather than
against our own writer. Each rule below quotes the spec section it enforces. A breach of a
"must" is an error (parse() raises KtapError naming the line); a breach of a "should" is
kept in Document.warnings. Unknown lines are allowed anywhere and do not affect results
("Unknown lines"), so console noise interleaved with results is tolerated.
"""

from __future__ import annotations

import dataclasses
import re

VERSION_RE = re.compile(r"^(KTAP version 1|TAP version 13|TAP version 14)$")
PLAN_RE = re.compile(r"^1\.\.(\d+)$")
# "<result> <number> [<description>][ # [<directive>] [<diagnostic data>]]"
RESULT_RE = re.compile(r"^(ok|not ok) (\d+)(?:$| (.*)$)")
DIRECTIVES = ("SKIP", "TODO", "XFAIL", "TIMEOUT", "ERROR")
INDENT = "  "  # "One level of indentation is two spaces"


class KtapError(ValueError):
    def __init__(self, lineno: int, msg: str):
        super().__init__(f"line {lineno}: {msg}")
        self.lineno = lineno


@dataclasses.dataclass
class Test:
    number: int
    ok: bool
    description: str
    directive: str | None  # SKIP TODO XFAIL TIMEOUT ERROR, or None
    diagnostic: str  # data after the directive (or after "#" when there is no directive)
    lineno: int
    subtests: "Suite | None" = None
    diagnostics: list[str] = dataclasses.field(default_factory=list)  # "# ..." lines before it

    @property
    def status(self) -> str:
        """pass/fail/skip/xfail/todo/timeout/error: the directive wins, as the spec says a
        SKIP line "can be either ok or not ok"."""
        if self.directive:
            return self.directive.lower()
        return "pass" if self.ok else "fail"


@dataclasses.dataclass
class Suite:
    version: str
    plan: int | None
    tests: list[Test]
    lineno: int


@dataclasses.dataclass
class Document:
    root: Suite
    warnings: list[str]
    unknown: list[tuple[int, str]]

    def walk(self):
        """Every test, depth first, with its path of descriptions."""
        def rec(suite, path):
            for t in suite.tests:
                yield path + (t.description,), t
                if t.subtests:
                    yield from rec(t.subtests, path + (t.description,))
        yield from rec(self.root, ())


def _split_result(rest: str, lineno: int) -> tuple[str, str | None, str]:
    """Splits "<description>[ # [<directive>] [<diagnostic data>]]"."""
    if rest.startswith("# "):  # no description, directive only: "ok 2 # SKIP"
        desc, tail = "", rest[2:]
    elif rest == "#":
        desc, tail = "", ""
    elif " # " in rest:
        desc, tail = rest.split(" # ", 1)
    elif rest.endswith(" #"):
        desc, tail = rest[:-2], ""
    else:
        desc, tail = rest, None
    # "The description ... can be any string of words (can't include #)."
    if "#" in desc:
        raise KtapError(lineno, f"description {desc!r} contains '#'")
    if tail is None:
        return desc, None, ""
    word, _, data = tail.strip().partition(" ")
    if word.upper() in DIRECTIVES:
        return desc, word.upper(), data.strip()
    return desc, None, tail.strip()


def parse(text: str) -> Document:
    lines = text.splitlines()
    warnings: list[str] = []
    unknown: list[tuple[int, str]] = []
    # Stack of open suites; each frame: [suite, depth, pending diagnostics, plan_allowed].
    stack: list[list] = []
    root: Suite | None = None
    # Subtest suite waiting for its parent's result line at the enclosing depth.
    closed_child: Suite | None = None

    def close(frame, lineno):
        suite = frame[0]
        # "Plan lines must follow the format of "1..N" where N is the number of tests".
        if suite.plan is not None and suite.plan != len(suite.tests):
            raise KtapError(lineno, f"plan 1..{suite.plan} (line {suite.lineno + 1}) but "
                                    f"{len(suite.tests)} test result(s) at that level")
        if suite.plan is None:
            warnings.append(f"line {suite.lineno}: no plan line (\"strongly recommended\")")

    for lineno, raw in enumerate(lines, 1):
        line = raw.rstrip("\r")
        stripped = line.lstrip(" ")
        indent = len(line) - len(stripped)
        depth = indent // 2 if indent % 2 == 0 else None
        is_version = bool(VERSION_RE.match(stripped))
        plan_m = PLAN_RE.match(stripped)
        res_m = RESULT_RE.match(stripped)
        cur_depth = stack[-1][1] if stack else -1

        if is_version and depth is not None:
            if root is None:
                if depth != 0:
                    raise KtapError(lineno, "the first version line must not be indented")
                root = Suite(stripped, None, [], lineno)
                stack.append([root, 0, [], True])
                continue
            if depth == cur_depth + 1 and closed_child is None:
                # "subtests also begin with a version line" one indentation level deeper.
                stack.append([Suite(stripped, None, [], lineno), depth, [], True])
                continue
            raise KtapError(lineno, f"version line at indentation {indent} where a nested test "
                                    f"must start at {2 * (cur_depth + 1)}")
        if root is None:
            # "All KTAP-formatted results begin with a version line"; before it, only
            # unknown lines (console noise) may appear.
            if res_m or plan_m:
                raise KtapError(lineno, "test result or plan before the \"KTAP version 1\" line")
            unknown.append((lineno, line))
            continue
        if plan_m and depth == cur_depth and closed_child is None:
            frame = stack[-1]
            # "Plan lines follow version lines to indicate the number of nested tests."
            if not frame[3] or frame[0].plan is not None:
                raise KtapError(lineno, "plan line not directly after its version line")
            frame[0].plan = int(plan_m.group(1))
            frame[3] = False
            continue
        if res_m and depth is not None:
            if closed_child is not None and depth == cur_depth:
                pass  # the parent's result line for the subtest just closed
            elif depth == cur_depth - 1 and closed_child is None:
                # A shallower result ends the current nested test: its parent result line.
                close(stack[-1], lineno)
                closed_child = stack.pop()[0]
                cur_depth = stack[-1][1]
            elif depth != cur_depth:
                raise KtapError(lineno, f"test result at indentation {indent} inside a test "
                                        f"at indentation {2 * cur_depth}")
            frame = stack[-1]
            suite = frame[0]
            number = int(res_m.group(2))
            # "The first test must have the number 1 and the number then must increase by 1".
            if number != len(suite.tests) + 1:
                raise KtapError(lineno, f"test number {number}, expected {len(suite.tests) + 1}")
            desc, directive, diag = _split_result(res_m.group(3) or "", lineno)
            t = Test(number, res_m.group(1) == "ok", desc, directive, diag, lineno,
                     subtests=closed_child, diagnostics=frame[2])
            frame[2], frame[3], closed_child = [], False, None
            if directive in ("TIMEOUT", "ERROR") and t.ok:
                warnings.append(f"line {lineno}: {directive} on an \"ok\" line (should be \"not ok\")")
            if t.subtests and t.ok and directive is None and any(
                    s.status == "fail" for s in t.subtests.tests):
                warnings.append(f"line {lineno}: parent passes while a subtest fails "
                                "(\"the parent test should also fail\")")
            suite.tests.append(t)
            continue
        if stripped.startswith("#"):
            # "Diagnostic lines can be anywhere in the test output"; one is kept with the
            # next result at its own indentation (the spec's "# example failed" precedes
            # the parent's result), else with the innermost open test.
            frame = next((f for f in stack if f[1] == depth), stack[-1])
            frame[2].append(stripped[1:].strip())
            continue
        # "Unknown lines" are allowed, indented or not, and do not influence results.
        unknown.append((lineno, line))

    if root is None:
        raise KtapError(len(lines) + 1 if lines else 1, "no \"KTAP version 1\" line")
    if closed_child is not None or len(stack) > 1:
        raise KtapError(len(lines), "nested test without its parent's result line (output cut short?)")
    close(stack[0], len(lines))
    return Document(root, warnings, unknown)
