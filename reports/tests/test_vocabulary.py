"""One vocabulary: reports/vocabulary.json is exactly what the built harness exports
(`harness --vocabulary`; scripts/regenerate rewrites it), and no Python module of
reports/, vm/ or libmatrix/ spells the verdict list out again."""

from __future__ import annotations

import json
import re
import subprocess

from conftest import ROOT
from reports import vocabulary as V


def test_committed_vocabulary_is_the_binarys(harness_bin):
    p = subprocess.run([harness_bin, "--vocabulary"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == json.loads(V.PATH.read_text()), \
        "reports/vocabulary.json differs from `harness --vocabulary`: run scripts/regenerate --vocabulary-only"


def test_xpass_is_neutral_and_does_not_fail_a_run():
    assert V.CLASS["xpass"] == "neutral" and "xpass" not in V.FAILS_RUN and "xpass" not in V.BAD
    assert V.EXIT_STATUSES[4] == "all-skipped"


def test_no_second_verdict_list():
    """A line naming four or more verdicts in quotes is a verdict list (logic about one or
    two verdicts is not); only the vocabulary module may have one (tests build documents
    with verdicts, so they are out)."""
    names = "|".join(re.escape(v) for v in V.VERDICTS)
    quoted = re.compile(rf"""["']({names})["']""")
    offenders = []
    for d in ("reports", "vm", "libmatrix"):
        for f in sorted((ROOT / d).rglob("*.py")):
            if "tests" in f.parts or f.name == "vocabulary.py":
                continue
            for n, line in enumerate(f.read_text().splitlines(), 1):
                if len(set(quoted.findall(line))) >= 4:
                    offenders.append(f"{f.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not offenders, "verdicts spelled out again (read reports/vocabulary.py instead):\n" + "\n".join(offenders)
