"""The upgrade gate: compares two result sets case by case and fails on a regression.

"Did this upgrade change anything we rely on?" A regression is a pass that became a bad
verdict (class "bad" in the vocabulary: fail, timeout, crash, broken or a VM-level
failure), a changed observed outcome (another errno, value or phase), a case that
disappeared, or a new kernel-log failure (a reason starting "kernel-log"). Other changes
(new cases, fixes, skips, an xpass) are listed but pass. Outcomes are compared in a
normalised form: a signal by name and by number is one outcome (SIGSEGV@wait ==
11@wait), and where a passing row's expectation allows alternatives (`0|-1@completion`,
with the `why` the table requires) a move between them is listed, not a regression.
Expected differences are declared in a TOML allow-list, each with a reason; an entry that
allowed nothing is reported as stale so the list does not rot.

Exit status: 1 on an un-allowed regression, 0 otherwise, 2 on bad input (one line naming
the file: another schema version, an unknown verdict, a file cut short without --partial,
two runs of one environment on one side).
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
import tomllib

from reports import results as R
from reports import vocabulary as V

# A pass that became one of these broke.
BROKE_FROM_PASS = V.BAD
# Verdicts of a case that ran to its end and was judged against its row (a pass or a fail,
# turned into xfail/xpass by a known-defect entry): their observations are the outcome.
# A skip observed nothing; a timeout, crash, broken or VM failure is a verdict change.
JUDGED = frozenset(v for v in V.VERDICTS if v != "skip" and (v == "fail" or v not in V.BAD))
# Of those, the ones where the observations missed the row's expectation.
MISSED_ROW = frozenset({"fail", "xfail"})
KINDS = ("verdict", "outcome", "disappeared", "kernel-log", "new")
ALLOW_KEYS = {"id", "change", "column", "from", "to", "reason", "ref"}
GATE_SCHEMA = "aioharness-gate/1"


@dataclasses.dataclass
class Change:
    id: str
    column: str
    kind: str  # one of KINDS
    base: str
    new: str
    regression: bool
    allowed: str | None = None

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Allow:
    id: str
    change: str
    reason: str
    column: str = "*"
    from_: str | None = None
    to: str | None = None
    ref: str | None = None
    used: int = 0

    def matches(self, c: Change) -> bool:
        return (R.glob_match(self.id, c.id)
                and R.glob_match(self.column, c.column)
                and self.change in ("any", c.kind)
                and (self.from_ is None or R.glob_match(self.from_, c.base))
                and (self.to is None or R.glob_match(self.to, c.new)))


def load_allow(path: str) -> list[Allow]:
    """Allow-list format (TOML), one table per expected change:

        [[allow]]
        id = "errors.*@io_uring"     # glob over case ids (required)
        change = "outcome"           # verdict | outcome | disappeared | kernel-log | any
        column = "6.12*"             # optional glob over the NEW column label
        from = "EINVAL@submit"       # optional glob over the base side's text
        to = "EOPNOTSUPP@submit"     # optional glob over the new side's text
        reason = "why this change is expected"   # required
        ref = "linux commit <sha>"   # optional
    """
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise R.InputError(f"{path}: {e}") from None
    extra = set(doc) - {"allow"}
    if extra:
        raise R.InputError(f"{path}: unknown top-level key(s) {sorted(extra)}")
    entries = doc.get("allow", [])
    if not isinstance(entries, list):
        raise R.InputError(f"{path}: 'allow' must be an array of tables ([[allow]])")
    out = []
    for i, e in enumerate(entries):
        where = f"{path}: allow[{i}]"
        if not isinstance(e, dict):
            raise R.InputError(f"{where}: not a table")
        unknown = set(e) - ALLOW_KEYS
        if unknown:
            raise R.InputError(f"{where}: unknown key(s) {sorted(unknown)}")
        for key in ("id", "change", "reason"):
            if not isinstance(e.get(key), str) or not e[key].strip():
                raise R.InputError(f"{where}: '{key}' is required (a non-empty string)")
        if e["change"] not in ("verdict", "outcome", "disappeared", "kernel-log", "any"):
            raise R.InputError(f"{where}: change '{e['change']}' is not one of "
                               "verdict, outcome, disappeared, kernel-log, any")
        out.append(Allow(id=e["id"], change=e["change"], reason=e["reason"],
                         column=e.get("column", "*"), from_=e.get("from"), to=e.get("to"),
                         ref=e.get("ref")))
    return out


def _series(kernel: str) -> str:
    """"6.1.0-28-amd64" -> "6.1": a matrix row names a series, and the package it resolves
    to moves on between runs."""
    m = re.match(r"(\d+)(?:\.(\d+))?", kernel)
    return ".".join(g for g in m.groups() if g) if m else kernel


# Ways to pair the columns left over after exact kernel x device x library matches, most
# specific first; a key pairs two columns only if it is unique on both sides.
PAIRING = (
    lambda c: (_series(c.kernel), c.device, c.library),
    lambda c: (_series(c.kernel), c.device),
    lambda c: (c.device, c.library),
    lambda c: (c.device,),
)


def pair_columns(base: list[R.Column], new: list[R.Column]) -> list[tuple[R.Column | None, R.Column | None]]:
    """Pairs each base column with the new column it is compared against: the same
    kernel x device x library; else the same kernel series and device (a newer package of
    the series); else the same device (an upgrade changes the kernel or the library, not the
    device); else a single leftover column against a single one. A base column left over
    has disappeared; a new one left over (a kernel or device added to the matrix) is new."""
    new_keys = {c.key for c in new}
    base_keys = {c.key for c in base}
    pairs = [(b, n) for b in base for n in new if b.key == n.key]
    left_b = [b for b in base if b.key not in new_keys]
    left_n = [n for n in new if n.key not in base_keys]
    for keyf in PAIRING:
        kb: dict = {}
        kn: dict = {}
        for c in left_b:
            kb.setdefault(keyf(c), []).append(c)
        for c in left_n:
            kn.setdefault(keyf(c), []).append(c)
        for k, bs in kb.items():
            if len(bs) == 1 and len(kn.get(k, [])) == 1:
                pairs.append((bs[0], kn[k][0]))
                left_b.remove(bs[0])
                left_n.remove(kn[k][0])
    if len(left_b) == 1 and len(left_n) == 1:
        pairs.append((left_b[0], left_n[0]))
        left_b, left_n = [], []
    pairs.extend((b, None) for b in left_b)  # every case of such a column disappeared
    pairs.extend((None, n) for n in left_n)  # a column the baseline lacks: all new, no verdict
    return pairs


def _text(r: dict | None) -> str:
    if r is None:
        return "(absent)"
    obs = r.get("observed") or ""
    return f"{r['verdict']} {obs}".strip()


def compare_results(b: dict | None, n: dict | None, rid: str, column: str) -> list[Change]:
    if n is None:
        return [Change(rid, column, "disappeared", _text(b), "(absent)", True)]
    if b is None:
        return [Change(rid, column, "new", "(absent)", _text(n), False)]
    changes = []
    bv, nv = b["verdict"], n["verdict"]
    if bv == "pass" and nv in BROKE_FROM_PASS:
        changes.append(Change(rid, column, "verdict", bv, nv + (f": {n['reason']}" if n.get("reason") else ""), True))
    elif bv != nv:
        changes.append(Change(rid, column, "verdict", bv, nv, False))
    # A failing case that now passes changed its outcome by being fixed: listed, not a
    # regression. Any other change of what was observed is one, even when both sides pass
    # (a kernel-specific `when` expectation still means behaviour we rely on changed).
    # Only verdicts of a case that ran to its end carry an outcome; a skip observed nothing,
    # and a timeout, crash or VM failure is already reported as a verdict change.
    if bv in JUDGED and nv in JUDGED and not R.same_outcome(b, n):
        # A case that missed its row (a fail, or a known defect reproduced) now meets it.
        fixed = bv in MISSED_ROW and nv in JUDGED - MISSED_ROW
        # Both pass under an expectation with alternatives: the row says either is right.
        either = bv == nv == "pass" and R.same_outcome(b, n, n.get("expected"))
        changes.append(Change(rid, column, "outcome", b.get("observed") or "(none)",
                              n.get("observed") or "(none)", not (fixed or either)))
    nk = (n.get("reason") or "").startswith("kernel-log")
    bk = (b.get("reason") or "").startswith("kernel-log")
    if nk and not bk:
        changes.append(Change(rid, column, "kernel-log", b.get("reason") or "", n["reason"], True))
    return changes


def _one_run_per_environment(cols: list[R.Column]) -> list[R.Column]:
    for c in cols:
        if c.instance > 1:
            first = next(o for o in cols if o.key == c.key and o.instance == 1)
            raise R.InputError(f"{c.runs[0].path}: a second run of {first.runs[0].path}'s environment "
                               f"({c.kernel} × {c.device}); the gate compares one run per environment")
    return cols


def compare(base_runs: list[R.Run], new_runs: list[R.Run]) -> list[Change]:
    changes: list[Change] = []
    base_cols = _one_run_per_environment(R.columns(base_runs))
    new_cols = _one_run_per_environment(R.columns(new_runs))
    for b, n in pair_columns(base_cols, new_cols):
        label = n.label if n is not None else b.label
        if n is not None and b is not None and b.label != n.label:
            label = f"{b.label} → {n.label}"
        base_results = b.results if b is not None else {}
        new_results = n.results if n is not None else {}
        for rid in sorted(set(base_results) | set(new_results), key=R.case_sort_key):
            changes.extend(compare_results(base_results.get(rid), new_results.get(rid), rid, label))
    return changes


def apply_allow(changes: list[Change], allow: list[Allow]) -> None:
    for c in changes:
        if not c.regression:
            continue
        for a in allow:
            if a.matches(c):
                a.used += 1
                c.allowed = a.reason + (f" ({a.ref})" if a.ref else "")
                break


def table(changes: list[Change]) -> str:
    """A readable fixed-width table, regressions first."""
    rows = [("", "CHANGE", "CASE", "COLUMN", "BASE", "NEW")]
    order = sorted(changes, key=lambda c: (not (c.regression and not c.allowed), c.kind, c.id))
    for c in order:
        mark = "REGRESSION" if c.regression and not c.allowed else ("allowed" if c.allowed else "info")
        rows.append((mark, c.kind, c.id, c.column, c.base, c.new + (f"  [allowed: {c.allowed}]" if c.allowed else "")))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return "\n".join("  ".join(r[i].ljust(widths[i]) for i in range(5)) + "  " + r[5] for r in rows)


def main(argv: list[str] | None = None) -> int:
    ap = R.ArgParser(prog="gate", description=__doc__.split("\n\n")[0])
    ap.add_argument("base", help="baseline result file or directory")
    ap.add_argument("new", help="new result file or directory")
    ap.add_argument("--allow", help="TOML allow-list of expected changes, each with a reason")
    ap.add_argument("--json", dest="json_out", help="write the changes as JSON here (never overwritten)")
    ap.add_argument("--quiet", action="store_true", help="print only the verdict line")
    ap.add_partial()
    args = ap.parse_or_none(argv)
    if args is None:
        return 2
    try:
        allow = load_allow(args.allow) if args.allow else []
        notes: list[str] = []
        base_runs = R.load([args.base], notes, partial=args.partial)
        new_runs = R.load([args.new], notes, partial=args.partial)
        changes = compare(base_runs, new_runs)
        apply_allow(changes, allow)
        regressions = [c for c in changes if c.regression and not c.allowed]
        if args.json_out:
            doc = {
                "schema": GATE_SCHEMA,
                "base": [r.path for r in base_runs], "new": [r.path for r in new_runs],
                "regressions": len(regressions),
                "changes": [c.as_dict() for c in changes],
                "stale_allow": [{"id": a.id, "change": a.change, "reason": a.reason}
                                for a in allow if a.used == 0],
            }
            try:
                with open(args.json_out, "x", encoding="utf-8") as f:
                    json.dump(doc, f, indent=2, ensure_ascii=False)
                    f.write("\n")
            except FileExistsError:
                raise R.InputError(f"{args.json_out}: exists; refusing to overwrite") from None
            except OSError as e:
                raise R.InputError(f"{args.json_out}: {e}") from None
    except R.InputError as e:
        print(f"gate: {e}", file=sys.stderr)
        return 2
    if not args.quiet and changes:
        print(table(changes))
    for a in allow:
        if a.used == 0:
            print(f"gate: note: allow entry id={a.id!r} change={a.change!r} matched nothing (stale?)")
    for n in notes:
        print(f"gate: note: {n}")
    truncated = [r.path for r in base_runs + new_runs if r.truncated]
    for p in truncated:
        print(f"gate: note: {p} has no summary (a run cut short); compared what it holds")
    n_allowed = sum(1 for c in changes if c.allowed)
    print(f"gate: {len(regressions)} regression(s), {n_allowed} allowed, "
          f"{len(changes) - len(regressions) - n_allowed} other change(s)")
    return 1 if regressions else 0


if __name__ == "__main__":
    sys.exit(main())
