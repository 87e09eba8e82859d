"""Issue #15's cross-kernel changes on the committed VM matrix (reports/published/results, the
columns with a VM): each change in reports/keyed_changes.toml is keyed by a row's `when` on one of
its facts and some keyed row observed different outcomes on the two sides of it, or the entry
says why the matrix cannot show one side and that reason holds on the data; and the matrix has no
bad verdict, nor an xfail without its reference. Then reports/keyed.py itself, on result sets
built here."""

from __future__ import annotations

import tomllib

import pytest

from conftest import ROOT, document, result, write
from reports import keyed as K
from reports import results as R
from reports import vocabulary as V

LIST = tomllib.loads((ROOT / "reports" / "keyed_changes.toml").read_text())
CHANGES = LIST["change"]
EXEMPT = {e["fact"]: e.get("reason") for e in LIST.get("exempt", [])}
CHECKS = ("all-true", "all-false", "unkeyed-same", "other-side-skips")


@pytest.fixture(scope="module")
def matrix() -> list[R.Column]:
    cols = [c for c in R.columns(R.load([str(ROOT / "reports" / "published" / "results")])) if c.device != "host"]
    assert len({c.kernel for c in cols}) >= 2, "the published data holds no VM matrix"
    return cols


@pytest.fixture(scope="module")
def catalog() -> dict[str, K.Row]:
    return K.load_catalog(ROOT / "cases")


@pytest.fixture(scope="module")
def entries(matrix, catalog) -> dict[str, list[K.Keyed]]:
    return K.by_fact(K.keyed_changes(matrix, catalog))


def _own_fact(col: R.Column, fact: str):
    return (col.runs[0].environment.get("facts") or {}).get(fact)


def test_the_list_is_well_formed():
    names = [c["name"] for c in CHANGES]
    assert len(names) == len(set(names)), "a change is listed twice"
    for c in CHANGES:
        assert set(c) <= {"name", "since", "facts", "check", "reason", "rows", "open"}, c["name"]
        if "check" in c:
            assert c["check"] in CHECKS and c.get("reason"), f"{c['name']}: a check needs one of {CHECKS} and a reason"
        if c.get("check") == "unkeyed-same":
            assert c.get("rows") and not c["facts"], f"{c['name']}: unkeyed-same names rows and no fact"
        else:
            assert c.get("facts") or "open" in c, f"{c['name']}: names no fact"


@pytest.mark.parametrize("change", CHANGES, ids=[c["name"] for c in CHANGES])
def test_each_change_shows_both_sides_or_says_why_not(change, matrix, catalog, entries):
    if "open" in change:
        pytest.xfail(f"open: {change['open']}")
    check = change.get("check")
    if check == "unkeyed-same":
        for rid in change["rows"]:
            got = {c.label: c.results.get(rid) for c in matrix}
            missing = [label for label, r in got.items() if r is None or r["verdict"] == "skip"]
            assert not missing, f"{rid} did not run on {missing}"
            assert len({R.outcome_key(r) for r in got.values()}) == 1, \
                f"{change['name']}: {rid} observed more than one outcome across the matrix: it shows both sides; key it"
        return
    facts = change["facts"]
    keyed = [row.case for row in catalog.values() if any(p.fact in facts for p, _ in row.when)]
    assert keyed, f"{change['name']}: no row's `when` keys on {facts}"
    statuses = {f: K.fact_status(entries.get(f, [])) for f in facts}
    shown = [f for f, s in statuses.items() if s == K.DIFFERS]
    if check is None:
        assert shown, (f"{change['name']}: no row keyed on {facts} observed different outcomes on the two sides "
                       f"across the matrix ({statuses}); fix the row or record why one side cannot be shown")
        return
    assert not shown, f"{change['name']}: the matrix shows it through {shown}: the `{check}` entry is stale"
    if check == "other-side-skips":
        for f in facts:
            rows = [row for row in catalog.values() if any(p.fact == f for p, _ in row.when)]
            false_side = [c for c in matrix if _own_fact(c, f) is not None and not _own_fact(c, f)]
            ran = [(c.label, rid) for c in false_side for rid, res in c.results.items()
                   if any(rid.startswith(r.case + "@") for r in rows) and res["verdict"] != "skip"]
            assert not ran, f"{change['name']}: a row keyed on {f} ran where it is false: {ran[:4]}"
            true_side = [c.label for c in matrix if _own_fact(c, f)
                         and any(rid.startswith(r.case + "@") and res["verdict"] != "skip"
                                 for rid, res in c.results.items() for r in rows)]
            assert true_side, f"{change['name']}: no row keyed on {f} ran where it holds either"
        return
    for f in facts:
        values = {c.label: _own_fact(c, f) for c in matrix}
        if check == "all-true":
            wrong = [label for label, v in values.items() if not v]
        else:
            wrong = [label for label, v in values.items() if v is None or bool(v)]
        assert not wrong, f"{change['name']}: {check} for {f} does not hold on {wrong}"


def test_every_fact_a_row_keys_on_is_a_listed_change_or_exempt(catalog):
    listed = {f for c in CHANGES for f in c.get("facts", [])}
    assert all(EXEMPT.values()), "an exempt fact needs a reason"
    assert not listed & set(EXEMPT), f"listed and exempt at once: {sorted(listed & set(EXEMPT))}"
    keyed = {p.fact: row.case for row in catalog.values() for p, _ in row.when}
    missing = sorted(f"{f} ({case})" for f, case in keyed.items() if f not in listed and f not in EXEMPT)
    assert not missing, f"facts rows key on that reports/keyed_changes.toml does not list: {missing}"
    stale = sorted(set(EXEMPT) - set(keyed))
    assert not stale, f"exempt facts no row keys on: {stale}"


def test_the_matrix_has_no_fail_that_is_not_a_recorded_xfail(matrix):
    bad = [(c.label, rid, r["verdict"]) for c in matrix for rid, r in sorted(c.results.items())
           if r["verdict"] in V.BAD]
    unreferenced = [(c.label, rid) for c in matrix for rid, r in sorted(c.results.items())
                    if r["verdict"] in ("xfail", "xpass") and not (r.get("xfail") or {}).get("ref")]
    assert not bad, f"{len(bad)} bad verdict(s) in the VM matrix, e.g. {bad[:4]}"
    assert not unreferenced, f"xfail without a reference: {unreferenced[:4]}"


# reports/keyed.py on result sets built here.

def _cols(tmp_path, per_kernel: dict[str, tuple[dict, list[dict]]]) -> list[R.Column]:
    files = []
    for k, (facts, rows) in per_kernel.items():
        doc = document(rows, kernel=k, device="nvme-512")
        doc["environment"]["facts"] = facts
        files.append(write(tmp_path / f"{k}.json", doc))
    return R.columns(R.load([str(f) for f in files]))


def _catalog(tmp_path, text: str) -> dict[str, K.Row]:
    d = tmp_path / "cases"
    d.mkdir(exist_ok=True)
    (d / "t.toml").write_text(text)
    return K.load_catalog(d)


ROW = '''area = "t"
[[case]]
id = "r"
scenario = "rw_one"
interfaces = ["io_uring"]
expect = "0@submit"
when = [{ if = "!feat.X", expect = "EINVAL@submit" }]
source = "s"
'''


def test_a_change_whose_outcome_follows_the_fact_differs(tmp_path):
    cols = _cols(tmp_path, {"5.10.0-1": ({"feat.X": False}, [result("t.r@io_uring", observed="EINVAL@submit")]),
                            "6.1.0-1": ({"feat.X": True}, [result("t.r@io_uring", observed="0@submit")])})
    [e] = K.keyed_changes(cols, _catalog(tmp_path, ROW))
    assert (e.fact, e.predicate, e.status) == ("feat.X", "!feat.X", K.DIFFERS)
    assert e.true_columns == ["5.10.0-1 × nvme-512"] and e.false_columns == ["6.1.0-1 × nvme-512"]


def test_a_change_that_loses_a_side_is_not_shown(tmp_path):
    cols = _cols(tmp_path, {"6.1.0-1": ({"feat.X": True}, [result("t.r@io_uring", observed="0@submit")]),
                            "6.12.0-1": ({"feat.X": True}, [result("t.r@io_uring", observed="0@submit")])})
    [e] = K.keyed_changes(cols, _catalog(tmp_path, ROW))
    assert e.status == K.ONE_SIDE and not e.true_columns


def test_same_outcome_on_both_sides_and_a_skipped_side_are_not_differences(tmp_path):
    cat = _catalog(tmp_path, ROW)
    same = _cols(tmp_path, {"5.10.0-1": ({"feat.X": False}, [result("t.r@io_uring", observed="0@submit")]),
                            "6.1.0-1": ({"feat.X": True}, [result("t.r@io_uring", observed="0@submit")])})
    assert K.keyed_changes(same, cat)[0].status == K.SAME
    skipped = _cols(tmp_path / "s", {"5.10.0-1": ({"feat.X": False}, [result("t.r@io_uring", verdict="skip")]),
                                     "6.1.0-1": ({"feat.X": True}, [result("t.r@io_uring", observed="0@submit")])})
    assert K.keyed_changes(skipped, cat)[0].status == K.SKIPPED


def test_predicates_evaluate_as_the_harness_does():
    P = K.Predicate.parse
    assert P("!f").holds({}) and not P("f").holds({}) and not P("f == 0").holds({})
    assert P("f == false").holds({"f": False}) and P("f == 0").holds({"f": False})
    assert P("n > 512").holds({"n": 4096}) and not P("n > 512").holds({"n": 512}) and not P("n > 1").holds({})
    assert P("s == ext4").holds({"s": "ext4"}) and P("s != ext4").holds({})


def test_both_pages_show_the_keyed_changes(tmp_path):
    from reports import html, markdown
    cols = _cols(tmp_path, {"5.10.0-1": ({"feat.X": False}, [result("t.r@io_uring", observed="EINVAL@submit")]),
                            "6.1.0-1": ({"feat.X": True}, [result("t.r@io_uring", observed="0@submit")])})
    cat = _catalog(tmp_path, ROW)
    md = markdown.render(cols, catalog=cat)
    assert "## Keyed changes" in md
    assert "| feat.X | !feat.X | differs | 5.10.0-1 (nvme-512) | 6.1.0-1 (nvme-512) | 1 / 0 / 0 / 0 / 0 | t.r |" in md
    page = html.render(cols, catalog=cat)
    assert '<h2 id="keyed">' in page and 'data-fact="feat.X" data-status="differs"' in page
    assert "pass EINVAL@submit: 5.10.0-1 (nvme-512)" in page
    assert "No case tables were read" in markdown.render(cols)
