"""The keyed changes: for each probed fact a row's expectation is keyed on (a `when` clause in
cases/*.toml), the columns on each side of it and whether the rows keyed on it really observed
something different there.

The result documents record the probed facts of every column (`environment.facts`, and a target
case's own in its `target` record) but not which `when` clause chose a row's expectation, so the
clauses are read from the case tables and evaluated on each column's facts exactly as the harness
does (harness/case_table.cc Predicate::eval, CaseRow::expectation_for): the first clause whose
predicate holds and that has an expectation for the interface applies. For one clause of one row
(one id, one interface), the true side is the columns where that clause applies, the false side
those where its predicate does not hold; columns where an earlier clause of the row applies are
neither. A row shows the change when both sides ran (not skip) and no outcome observed on one
side was observed on the other.

Used by the HTML and Markdown reports (section "Keyed changes") and by
reports/tests/test_keyed_changes.py, which checks the changes listed in reports/keyed_changes.toml
against the committed published results.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from pathlib import Path

from reports import results as R

# The checkout's case tables: what the published data was run from.
DEFAULT_CASES = Path(__file__).resolve().parents[1] / "cases"

_PRED = re.compile(r"^\s*(!?)\s*([A-Za-z0-9_.\-]+)\s*(?:(==|!=|<=|>=|<|>)\s*([A-Za-z0-9_.\-]+))?\s*$")

# Statuses of one keyed row, from best to worst shown.
DIFFERS = "differs"            # both sides ran; no outcome of one side was seen on the other
PARTLY = "partly"              # both sides ran; some outcomes are seen on both sides
SAME = "same"                  # both sides ran and observed the same outcomes
SKIPPED = "skipped"            # every column of one side skipped the row (its `requires`)
ONE_SIDE = "one side"          # no column is on one of the sides
STATUSES = (DIFFERS, PARTLY, SAME, SKIPPED, ONE_SIDE)
STATUS_MEANING = {
    DIFFERS: "no outcome of one side was observed on the other",
    PARTLY: "some outcomes were observed on both sides",
    SAME: "both sides observed the same outcomes",
    SKIPPED: "one side skipped the row",
    ONE_SIDE: "no column is on one side",
}


@dataclasses.dataclass(frozen=True)
class Predicate:
    fact: str
    op: str      # "" (truthy), "!", ==, !=, <, <=, >, >=
    value: str
    text: str

    @staticmethod
    def parse(text: str) -> "Predicate":
        m = _PRED.match(text)
        if not m:
            raise ValueError(f"malformed predicate {text!r}")
        return Predicate(m[2], "!" if m[1] else (m[3] or ""), m[4] or "", text.strip())

    def holds(self, facts: dict) -> bool:
        """Predicate::eval: absent is false; a boolean is 0/1 to a comparison; an ordering on an
        absent or non-numeric fact is false; ==/!= on a word compare the text."""
        v = facts.get(self.fact)
        flag = bool(v) if v is not None else False
        if self.op == "":
            return flag
        if self.op == "!":
            return not flag
        num = int(v) if isinstance(v, (bool, int)) else None
        try:
            want = int(self.value, 0)
        except ValueError:
            want = None
        if num is not None and want is not None:
            return {"==": num == want, "!=": num != want, "<": num < want, "<=": num <= want,
                    ">": num > want, ">=": num >= want}[self.op]
        text = "" if v is None else ("true" if v is True else "false" if v is False else str(v))
        if self.op == "==":
            return text == self.value
        if self.op == "!=":
            return text != self.value
        return False


@dataclasses.dataclass
class Row:
    """One case row's keys: its `when` clauses as (predicate, interfaces they have an
    expectation for: None for all)."""
    case: str
    file: str
    interfaces: list[str]
    when: list[tuple[Predicate, set[str] | None]]
    requires: list[str]


def load_catalog(cases_dir: str | os.PathLike | None = None) -> dict[str, Row]:
    """{"area.id": Row} of the rows with a `when`, read from the case tables."""
    out: dict[str, Row] = {}
    d = Path(cases_dir or DEFAULT_CASES)
    for f in sorted(d.glob("*.toml")):
        try:
            doc = tomllib.loads(f.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
            raise R.InputError(f"{f}: {e}") from None
        for c in doc.get("case", []):
            if not c.get("when"):
                continue
            area = c.get("area") or doc.get("area")
            ifs = c.get("interfaces")
            ifs = [ifs] if isinstance(ifs, str) else list(ifs or [])
            clauses = []
            for w in c["when"]:
                exp = w.get("expect")
                keys = None if isinstance(exp, str) or "all" in (exp or {}) else set(exp or {})
                clauses.append((Predicate.parse(w["if"]), keys))
            out[f"{area}.{c['id']}"] = Row(f"{area}.{c['id']}", f.name, ifs, clauses, list(c.get("requires") or []))
    return out


# Keys of a result's target record that describe the target rather than state a fact.
_TARGET_META = {"name", "kind", "fs", "device", "dir", "available", "reason", "info", "dio_align_source",
                "logical_block_size", "sector_size"}


def facts_of(col: R.Column, r: dict) -> dict:
    """The facts a row's `when` was evaluated on: the run's, with a target case's own over them."""
    run = next((run for run in col.runs if r["id"] in run.results), col.runs[0])
    facts = dict(run.environment.get("facts") or {})
    t = r.get("target")
    if isinstance(t, dict):
        facts.update({k: v for k, v in t.items() if k not in _TARGET_META})
    return facts


@dataclasses.dataclass
class KeyedRow:
    """One id's results on both sides of one of its row's clauses."""
    id: str
    true: list[tuple[str, dict]]    # (column label, result) where the clause applies
    false: list[tuple[str, dict]]   # where its predicate does not hold
    status: str = ""


@dataclasses.dataclass
class Keyed:
    """One predicate of one fact: the columns on each side and the ids keyed on it."""
    fact: str
    predicate: str
    true_columns: list[str]
    false_columns: list[str]
    rows: list[KeyedRow]

    def count(self, status: str) -> int:
        return sum(1 for k in self.rows if k.status == status)

    @property
    def status(self) -> str:
        """The best status of its rows: the change is shown when one row shows it."""
        got = {k.status for k in self.rows}
        return next((s for s in STATUSES if s in got), ONE_SIDE)


def _outcomes(side: list[tuple[str, dict]]) -> set[tuple]:
    return {R.outcome_key(r) for _, r in side if r["verdict"] != "skip"}


def row_status(k: KeyedRow) -> str:
    if not k.true or not k.false:
        return ONE_SIDE
    a, b = _outcomes(k.true), _outcomes(k.false)
    if not a or not b:
        return SKIPPED
    if a == b:
        return SAME
    return DIFFERS if not (a & b) else PARTLY


def keyed_changes(cols: list[R.Column], catalog: dict[str, Row]) -> list[Keyed]:
    """Every predicate some row's `when` keys on, with its sides over `cols`, sorted by fact."""
    found: dict[tuple[str, str], Keyed] = {}
    ids = sorted({rid for c in cols for rid in c.results}, key=R.case_sort_key)
    by_case: dict[str, list[str]] = {}
    for rid in ids:
        by_case.setdefault(rid.partition("@")[0], []).append(rid)
    for case, row in sorted(catalog.items()):
        for rid in by_case.get(case, []):
            iface = rid.partition("@")[2].partition("/")[0]
            per_clause = [KeyedRow(rid, [], []) for _ in row.when]
            for c in cols:
                r = c.results.get(rid)
                if r is None:
                    continue
                facts = facts_of(c, r)
                label = c.label
                chosen = None
                for n, (pred, keys) in enumerate(row.when):
                    if (keys is None or iface in keys) and pred.holds(facts):
                        chosen = n
                        break
                for n, (pred, keys) in enumerate(row.when):
                    if keys is not None and iface not in keys:
                        continue
                    if chosen == n:
                        per_clause[n].true.append((label, r))
                    elif not pred.holds(facts):
                        per_clause[n].false.append((label, r))
            for n, (pred, keys) in enumerate(row.when):
                if keys is not None and iface not in keys:
                    continue
                k = per_clause[n]
                k.status = row_status(k)
                entry = found.setdefault((pred.fact, pred.text), Keyed(pred.fact, pred.text, [], [], []))
                entry.rows.append(k)
    order = {c.label: i for i, c in enumerate(cols)}
    for entry in found.values():
        entry.true_columns = sorted({col for k in entry.rows for col, _ in k.true}, key=order.get)
        entry.false_columns = sorted({col for k in entry.rows for col, _ in k.false}, key=order.get)
    return [found[k] for k in sorted(found)]


def sides_text(labels: list[str]) -> str:
    """Column labels grouped by kernel: "5.10.0-32-amd64 (nvme-4k, nvme-512), 6.1.0-50-amd64 (nvme-4k)"."""
    if not labels:
        return "none"
    groups: dict[str, list[str]] = {}
    for s in labels:
        k, _, dev = s.partition(" × ")
        groups.setdefault(k, []).append(dev)
    return ", ".join(f"{k} ({', '.join(d for d in devs if d)})" if any(devs) else k for k, devs in groups.items())


def by_fact(entries: list[Keyed]) -> dict[str, list[Keyed]]:
    out: dict[str, list[Keyed]] = {}
    for e in entries:
        out.setdefault(e.fact, []).append(e)
    return out


def fact_status(entries: list[Keyed]) -> str:
    """A fact's change is shown when some row keyed on one of its predicates differs."""
    return min((e.status for e in entries), key=STATUSES.index) if entries else ONE_SIDE


def row_cases(e: Keyed) -> list[str]:
    return sorted({k.id.partition("@")[0] for k in e.rows})
