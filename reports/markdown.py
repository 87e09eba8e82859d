"""Renders merged result columns as a Markdown summary fit to commit to a repository.

Sections: the columns and their environment in one line each; one table per interface
(a row per case, a target case named with its target, a column per kernel x device; a
failing cell shows what was expected and what was observed); the O_DIRECT sweep as one
table per target kind with a column per kernel x device x target geometry; the behaviour
changes between consecutive kernels of the same device and library build; the keyed changes
(each probed fact a row's `when` keys on, its columns on each side and whether the keyed rows
observed something different there, reports/keyed.py); the known-bug (xfail) entries hit, with
unexpected passes called out; the documentation deviations.
"""

from __future__ import annotations

from reports import html
from reports import keyed as K
from reports import results as R
from reports import vocabulary as V


def _md(s) -> str:
    return R.visible(s).replace("|", "\\|").replace("\n", " ")


def _cell(r: dict | None) -> str:
    if r is None:
        return "—"
    obs = r.get("observed") or ""
    v = r["verdict"]
    text = f"**{v.upper()}**" if v in V.BAD or v == "xpass" else v
    if html._shows_expected(r):
        obs = f"{obs} (expected {r['expected']})".strip()
    return _md(f"{text} {obs}".strip())


def _lib(run: R.Run, name: str) -> str:
    return str(((run.environment.get("libraries") or {}).get(name) or {}).get("version", "?"))


def changes_between_kernels(cols: list[R.Column]) -> list[tuple[str, str, str, str, str]]:
    """(from column, to column, id, before, after) for each case whose verdict or outcome
    differs between a column and the same device's previous kernel."""
    out = []
    for i, p in sorted(R.neighbours(cols).items()):
        a, b = cols[p], cols[i]
        for rid in sorted(set(a.results) | set(b.results), key=R.case_sort_key):
            ra, rb = a.results.get(rid), b.results.get(rid)
            if ra is None or rb is None:
                before = _cell(ra)
                after = _cell(rb)
            elif ra["verdict"] != rb["verdict"] or not R.same_outcome(ra, rb, rb.get("expected")):
                before, after = _cell(ra), _cell(rb)
            else:
                continue
            out.append((a.label, b.label, rid, before, after))
    return out


def keyed_section(cols: list[R.Column], catalog: dict | None) -> list[str]:
    lines = ["## Keyed changes", ""]
    if not catalog:
        return lines + ["No case tables were read: the keyed changes need the rows' `when` clauses.", ""]
    entries = K.keyed_changes(cols, catalog)
    if not entries:
        return lines + ["No row keyed on a fact ran in these results.", ""]
    facts = K.by_fact(entries)
    shown = sum(1 for es in facts.values() if K.fact_status(es) == K.DIFFERS)
    lines += [f"{len(facts)} probed facts key {len(entries)} predicates; {shown} facts show a keyed row whose "
              "outcomes differ on the two sides (status per predicate: its best row; "
              + ", ".join(f"{s}: {K.STATUS_MEANING[s]}" for s in K.STATUSES) + ").", "",
              "| fact | predicate | status | holds on | does not hold on | rows: " +
              " / ".join(K.STATUSES) + " | keyed cases |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for fact, es in facts.items():
        for e in es:
            lines.append("| " + " | ".join(_md(x) for x in (
                fact, e.predicate, e.status, K.sides_text(e.true_columns), K.sides_text(e.false_columns),
                " / ".join(str(e.count(s)) for s in K.STATUSES), ", ".join(K.row_cases(e)))) + " |")
    lines.append("")
    return lines


def render(cols: list[R.Column], title: str = "aioharness compatibility report", catalog: dict | None = None) -> str:
    ids = sorted({rid for c in cols for rid in c.results}, key=R.case_sort_key)
    meta = {}
    for c in cols:
        for rid, r in c.results.items():
            meta.setdefault(rid, r)
    lines = [f"# {title}", ""]
    lines += ["## Columns", "",
              "| column | kernel | device | distro | glibc | liburing | libaio | vm | files | results | verdicts |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for c in cols:
        run = c.runs[0]
        vm = run.vm
        vm_text = ", ".join(f"{k} {vm[k]}" for k in ("qemu", "accel", "boot_path", "fs") if vm.get(k)) or "host"
        if isinstance(vm.get("kernel"), dict) and vm["kernel"].get("package"):
            vm_text = f"{vm['kernel']['package']} {vm['kernel'].get('version', '')}, " + vm_text
        counts = {v: 0 for v in R.VERDICTS}
        for r in c.results.values():
            counts[r["verdict"]] += 1
        verdicts = ", ".join(f"{v} {n}" for v, n in counts.items() if n)
        cut = " (cut short)" if any(r.truncated for r in c.runs) else ""
        lines.append("| " + " | ".join(_md(x) for x in (
            c.label, run.environment.get("kernel_release", "?"), c.device,
            run.environment.get("distro", "?"), _lib(run, "glibc"), _lib(run, "liburing"),
            _lib(run, "libaio"), vm_text, f"{len(c.runs)}{cut}", len(c.results), verdicts)) + " |")
    lines.append("")

    for iface in R.INTERFACES + tuple(sorted({meta[i]["interface"] for i in ids} - set(R.INTERFACES))):
        # Target cases are in the O_DIRECT sweep tables below.
        rows = [rid for rid in ids if meta[rid]["interface"] == iface and not R.target_name(meta[rid])]
        if not rows:
            continue
        lines += [f"## {iface}", "", "| case | " + " | ".join(_md(c.label) for c in cols) + " |",
                  "| --- |" + " --- |" * len(cols)]
        for rid in rows:
            lines.append(f"| {_md(R.row_label(meta[rid]))} | " +
                         " | ".join(_cell(c.results.get(rid)) for c in cols) + " |")
        lines.append("")

    sweep = html.dio_sweep(cols)
    for kind, heads, rows in sweep:
        lines += [f"## O_DIRECT sweep: {_md(kind)}", "",
                  "| case | " + " | ".join(_md(f"{cols[i].label} {name}" + (f" ({g})" if g else ""))
                                          for i, name, g in heads) + " |",
                  "| --- |" + " --- |" * len(heads)]
        for key in sorted(rows, key=R.case_sort_key):
            lines.append(f"| {_md(key)} | " + " | ".join(_cell(rows[key].get((i, name))) for i, name, _ in heads) + " |")
        lines.append("")

    lines += ["## Behaviour changes between consecutive kernels", ""]
    ch = changes_between_kernels(cols)
    if ch:
        lines += ["| from | to | case | before | after |", "| --- | --- | --- | --- | --- |"]
        lines += [f"| {_md(a)} | {_md(b)} | {_md(rid)} | {x} | {y} |" for a, b, rid, x, y in ch]
    elif any(True for _ in R.neighbours(cols)):
        lines.append("No case changed between consecutive kernels.")
    else:
        lines.append("Only one kernel per device and library build: nothing to compare.")
    lines.append("")

    lines += keyed_section(cols, catalog)

    lines += ["## Known-bug entries hit", ""]
    hits = [(c.label, rid, r) for c in cols for rid, r in sorted(c.results.items())
            if r.get("xfail") and r["verdict"] in ("xfail", "xpass")]
    if hits:
        lines += ["| column | case | verdict | reference | reason |", "| --- | --- | --- | --- | --- |"]
        for label, rid, r in hits:
            v = "**XPASS: the known bug did not show**" if r["verdict"] == "xpass" else "xfail"
            lines.append(f"| {_md(label)} | {_md(rid)} | {v} | {_md(r['xfail'].get('ref', ''))} | "
                         f"{_md(r['xfail'].get('reason', ''))} |")
    else:
        lines.append("No known-bug entry was hit.")
    lines.append("")

    lines += ["## Documentation deviations", ""]
    devs = [rid for rid in ids if meta[rid].get("doc")]
    if devs:
        lines += ["| case | documentation says | implementation does | source |", "| --- | --- | --- | --- |"]
        lines += [f"| {_md(rid)} | {_md(meta[rid]['doc'])} | {_md(meta[rid].get('expected', ''))} | "
                  f"{_md(meta[rid].get('source', ''))} |" for rid in devs]
    else:
        lines.append("No documentation deviation recorded.")
    lines.append("")
    return "\n".join(lines)
