"""Renders merged result columns as one self-contained HTML page (inline CSS and JS, no
network fetch when opened).

Views: the matrix (a row per case id, a target case named with its target, a column per
kernel x device [x library build]; each cell the verdict and observed outcome, and for a
failing cell the expected one too, coloured; a cell whose outcome or verdict differs from
the same device's previous kernel is outlined); filters by interface, area and verdict, a
search box and sorting by any column, all of which the page also reads from the URL
fragment (#interface=libaio&verdict=fail&q=bad-fd&sort=0:desc, so a link or a headless
browser can apply them); the O_DIRECT sweep as one table per target kind with a column per
kernel x device x target (geometry); a per-scenario side-by-side view across the four
interfaces (of the cases more than one interface ran); the keyed changes (each probed fact a
row's `when` keys on, its columns on each side, each keyed id's outcomes there and whether they
differ, reports/keyed.py); the documentation-deviation list and each column's environment.
"""

from __future__ import annotations

import html
import json

from reports import keyed as K
from reports import results as R
from reports import vocabulary as V

CSS = """
body{font:13px/1.35 system-ui,sans-serif;margin:1em;color:#222}
h1{font-size:20px}h2{font-size:16px;margin-top:1.6em;border-bottom:1px solid #ccc}h3{font-size:14px}
table{border-collapse:collapse;margin:.5em 0}
th,td{border:1px solid #ccc;padding:2px 5px;vertical-align:top;text-align:left}
th{background:#f3f3f3;position:sticky;top:0}
#matrix-table th{cursor:pointer}#matrix-table th[data-dir=asc]::after{content:" ▲"}
#matrix-table th[data-dir=desc]::after{content:" ▼"}
td.src{max-width:24em;font-size:11px;color:#444}
td.cell{white-space:nowrap;font-family:ui-monospace,monospace;font-size:12px}
td.cell small{display:block;color:#333}td.cell small.exp{color:#700}
.v-pass{background:#d9f2d9}.v-fail{background:#f7c6c6}.v-skip{background:#eee;color:#666}
.v-xfail{background:#fbe7c6}.v-xpass{background:#f4a3f4;font-weight:bold}.v-broken{background:#f0a070}
.v-timeout{background:#e08080}.v-crash{background:#c04040;color:#fff}
.v-boot-failed,.v-kernel-panic,.v-no-result{background:#888;color:#fff}
.v-absent{background:#fff;color:#bbb}
td.changed{outline:3px solid #1565c0;outline-offset:-3px}
tr[hidden]{display:none}
#filters label{margin-right:1em}
.legend span{display:inline-block;padding:1px 6px;margin-right:4px;border:1px solid #ccc}
details{margin:.4em 0}pre{white-space:pre-wrap;margin:0}
"""

# Filters, search and sort: the controls and the URL fragment drive one function. Rows carry
# data-interface, data-area and data-verdicts (every verdict in the row); a header click
# sorts by that column (a cell column by verdict, then text) and toggles the direction.
JS = """
(function(){
  var keys=['interface','area','verdict','q','sort'];
  var table=document.getElementById('matrix-table'),body=table.tBodies[0];
  var rows=Array.prototype.slice.call(body.rows),heads=table.tHead.rows[0].cells;
  var text=rows.map(function(tr){return tr.textContent.toLowerCase();});
  var sortState='';
  function ctl(k){return document.getElementById('f-'+k);}
  function current(){var f={};keys.forEach(function(k){f[k]=k==='sort'?sortState:ctl(k).value;});return f;}
  function key(tr,i){var td=tr.cells[i];return (td.dataset.verdict?td.dataset.verdict+' ':'')+td.textContent;}
  var collator=new Intl.Collator(undefined,{numeric:true});
  function sortRows(spec){
    var m=/^(\\d+):(asc|desc)$/.exec(spec||'');
    for(var h=0;h<heads.length;h++){heads[h].removeAttribute('data-dir');}
    var order=rows.slice();
    if(m&&+m[1]<heads.length){
      var i=+m[1],sign=m[2]==='desc'?-1:1;
      var keyed=order.map(function(tr,n){return [key(tr,i),n,tr];});
      keyed.sort(function(a,b){return sign*collator.compare(a[0],b[0])||a[1]-b[1];});
      order=keyed.map(function(k){return k[2];});
      heads[i].setAttribute('data-dir',m[2]);
    }
    var frag=document.createDocumentFragment();
    order.forEach(function(tr){frag.appendChild(tr);});
    body.appendChild(frag);
  }
  function apply(f){
    var shown=0,q=(f.q||'').toLowerCase();
    rows.forEach(function(tr,n){
      var ok=(!f.interface||tr.dataset.interface===f.interface)&&(!f.area||tr.dataset.area===f.area)&&
             (!f.verdict||(' '+tr.dataset.verdicts+' ').indexOf(' '+f.verdict+' ')>=0)&&
             (!q||text[n].indexOf(q)>=0);
      if(ok){tr.removeAttribute('hidden');shown++;}else{tr.setAttribute('hidden','');}
    });
    sortState=f.sort||'';
    sortRows(sortState);
    document.getElementById('shown').textContent=shown;
    document.body.dataset.filtered=keys.map(function(k){return k+'='+(f[k]||'');}).join('&');
  }
  function toHash(f){
    location.hash=keys.filter(function(k){return f[k];}).map(function(k){return k+'='+encodeURIComponent(f[k]);}).join('&');
  }
  function fromHash(){
    var f={};var h=location.hash.replace(/^#/,'');
    h.split('&').forEach(function(p){var kv=p.split('=');if(keys.indexOf(kv[0])>=0){f[kv[0]]=decodeURIComponent(kv[1]||'');}});
    keys.forEach(function(k){if(k==='sort'){return;}var s=ctl(k);s.value=f[k]||'';if(s.value!==(f[k]||'')){s.value='';}});
    sortState=f.sort||'';
    apply(current());
  }
  ['interface','area','verdict'].forEach(function(k){ctl(k).addEventListener('change',function(){var f=current();toHash(f);apply(f);});});
  ctl('q').addEventListener('input',function(){var f=current();toHash(f);apply(f);});
  Array.prototype.forEach.call(heads,function(th,i){th.addEventListener('click',function(){
    var m=/^(\\d+):(asc|desc)$/.exec(sortState);
    sortState=i+':'+(m&&+m[1]===i&&m[2]==='asc'?'desc':'asc');
    var f=current();toHash(f);apply(f);});});
  window.addEventListener('hashchange',fromHash);
  fromHash();
})();
"""


def _e(s) -> str:
    return html.escape(R.visible(s), quote=True)


def _shows_expected(r: dict) -> bool:
    """A cell whose outcome is not what the row expects also shows the expectation."""
    return bool(r.get("expected")) and r.get("expected") != r.get("observed") and \
        (r["verdict"] in V.BAD or r["verdict"] == "xfail")


def _cell(r: dict | None, changed: str | None) -> str:
    if r is None:
        return '<td class="cell v-absent">—</td>'
    v = r["verdict"]
    title = []
    if r.get("reason"):
        title.append(r["reason"])
    if changed:
        title.append(f"changed from previous kernel: {changed}")
    cls = f"cell v-{v}" + (" changed" if changed else "")
    # A cell without an observation (skip, broken, no-result) shows the start of its reason.
    obs = r.get("observed") or (r.get("reason") or "")[:48]
    exp = f'<small class="exp">expected {_e(r["expected"])}</small>' if _shows_expected(r) else ""
    tip = f' title="{_e(" | ".join(title))}"' if title else ""
    return (f'<td class="{_e(cls)}" data-verdict="{_e(v)}"{tip}>'
            f'{_e(v)}<small>{_e(obs)}</small>{exp}</td>')


def _changed(cur: dict | None, prev: dict | None) -> str | None:
    if cur is None or prev is None:
        return None
    if prev["verdict"] != cur["verdict"] or not R.same_outcome(prev, cur, cur.get("expected")):
        return f"{prev['verdict']} {prev.get('observed') or ''}".strip()
    return None


def _select(name: str, values: list[str]) -> str:
    opts = "".join(f'<option value="{_e(v)}">{_e(v)}</option>' for v in values)
    return (f'<label>{name} <select id="f-{name}"><option value="">all</option>{opts}</select></label>')


def _env_table(obj, depth=0) -> str:
    if isinstance(obj, dict):
        if not obj:
            return "<i>empty</i>"
        rows = "".join(f"<tr><th>{_e(k)}</th><td>{_env_table(v, depth + 1)}</td></tr>"
                       for k, v in obj.items())
        return f"<table>{rows}</table>"
    if isinstance(obj, list):
        return "<pre>" + _e(json.dumps(obj, ensure_ascii=False)) + "</pre>"
    return _e("null" if obj is None else obj)


def target_kind(t: dict) -> str:
    """A target's kind as the sweep tables group it: its filesystem, else its kind."""
    fs = t.get("fs")
    if fs:
        return str(fs)
    kind = str(t.get("kind") or "?")
    return "raw block device" if kind == "raw" else kind


def dio_sweep(cols: list[R.Column]) -> list[tuple[str, list[tuple[int, str, str]], dict[str, dict]]]:
    """The O_DIRECT target cases as one table per target kind: (kind, columns, rows) with
    columns (column index, target name, geometry) and rows {case@interface: {(col, target):
    result}}; shared by the HTML and the Markdown."""
    tables: dict[str, tuple[dict, dict]] = {}
    for i, c in enumerate(cols):
        for r in c.results.values():
            t = r.get("target")
            if not isinstance(t, dict) or not t.get("name"):
                continue
            kind = target_kind(t)
            heads, rows = tables.setdefault(kind, ({}, {}))
            lbs = t.get("logical_block_size") or t.get("sector_size")
            heads[(i, t["name"])] = (int(lbs) if isinstance(lbs, int) else 0, f"{lbs}-byte blocks" if lbs else "")
            rows.setdefault(f"{r['case']}@{r['interface']}", {})[(i, t["name"])] = r
    out = []
    for kind in sorted(tables):
        heads, rows = tables[kind]
        hs = sorted(heads, key=lambda h: (h[0], heads[h][0], h[1]))  # column, then block size
        out.append((kind, [(i, name, heads[(i, name)][1]) for i, name in hs], rows))
    return out


def _side(side: list[tuple[str, dict]]) -> str:
    """Each outcome once, with the columns that observed it: "pass EINVAL@submit: 5.10.0-32-amd64 (nvme-4k)"."""
    seen: dict[str, list[str]] = {}
    for label, r in side:
        seen.setdefault(f"{r['verdict']} {r.get('observed') or ''}".strip(), []).append(label)
    return "; ".join(f"{outcome}: {K.sides_text(labels)}" for outcome, labels in seen.items()) or "none"


def keyed_section(cols: list[R.Column], catalog: dict | None) -> list[str]:
    out = ['<h2 id="keyed">Keyed changes</h2>']
    if not catalog:
        return out + ["<p>No case tables were read: the keyed changes need the rows' <code>when</code> clauses.</p>"]
    entries = K.keyed_changes(cols, catalog)
    if not entries:
        return out + ["<p>No row keyed on a fact ran in these results.</p>"]
    out.append("<p>Each probed fact a row's <code>when</code> keys on, per predicate: the columns where it holds "
               "and where it does not, and each keyed id's outcomes on both sides. Status: " +
               "; ".join(f"<b>{_e(s)}</b>: {_e(K.STATUS_MEANING[s])}" for s in K.STATUSES) +
               " (a predicate has its best row's).</p>")
    out.append('<table id="keyed-table"><thead><tr><th>fact</th><th>predicate</th><th>status</th><th>holds on</th>'
               "<th>does not hold on</th>" + "".join(f"<th>{_e(s)}</th>" for s in K.STATUSES) +
               "<th>keyed ids</th></tr></thead><tbody>")
    for e in entries:
        ids = "".join(f'<tr data-status="{_e(k.status)}"><td>{_e(k.id)}</td><td>{_e(k.status)}</td>'
                      f"<td>{_e(_side(k.true))}</td><td>{_e(_side(k.false))}</td></tr>" for k in e.rows)
        out.append(f'<tr data-fact="{_e(e.fact)}" data-status="{_e(e.status)}"><td>{_e(e.fact)}</td>'
                   f"<td>{_e(e.predicate)}</td><td>{_e(e.status)}</td><td>{_e(K.sides_text(e.true_columns))}</td>"
                   f"<td>{_e(K.sides_text(e.false_columns))}</td>" +
                   "".join(f"<td>{e.count(s)}</td>" for s in K.STATUSES) +
                   f"<td><details><summary>{len(e.rows)} id(s)</summary><table><thead><tr><th>id</th><th>status</th>"
                   f"<th>where it holds</th><th>where it does not</th></tr></thead><tbody>{ids}</tbody></table>"
                   "</details></td></tr>")
    out.append("</tbody></table>")
    return out


def render(cols: list[R.Column], title: str = "aioharness compatibility report", catalog: dict | None = None) -> str:
    ids = sorted({rid for c in cols for rid in c.results}, key=R.case_sort_key)
    prev = R.neighbours(cols)
    meta = {}
    for c in cols:
        for rid, r in c.results.items():
            meta.setdefault(rid, r)
    interfaces = sorted({meta[i]["interface"] for i in ids},
                        key=lambda x: R.INTERFACES.index(x) if x in R.INTERFACES else 9)
    areas = sorted({meta[i]["area"] for i in ids})
    present = {r["verdict"] for c in cols for r in c.results.values()}
    verdicts = [v for v in R.VERDICTS if v in present]

    out = [f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{_e(title)}</title>",
           f"<style>{CSS}</style></head><body>", f"<h1>{_e(title)}</h1>"]
    out.append(f"<p>{len(ids)} case ids × {len(cols)} column(s) from "
               f"{sum(len(c.runs) for c in cols)} result file(s). "
               "Outlined cells differ (verdict or observed outcome) from the same device's previous kernel.</p>")
    out.append('<p class="legend">' + "".join(f'<span class="v-{v}" title="{_e(V.MEANING[v])}">{v}</span>'
                                              for v in R.VERDICTS) + "</p>")
    xpass = sum(1 for c in cols for r in c.results.values() if r["verdict"] == "xpass")
    if xpass:
        out.append(f'<p class="v-xpass">{xpass} known-defect result(s) passed unexpectedly (xpass): '
                   "the defect may be fixed there; the row may be stale.</p>")

    # Matrix.
    out.append('<h2 id="matrix">Matrix</h2><div id="filters">' + _select("interface", interfaces) +
               _select("area", areas) + _select("verdict", verdicts) +
               '<label>search <input id="f-q" type="search" placeholder="id, source, outcome"></label>'
               ' <span><b id="shown">0</b> rows shown</span></div>')
    out.append('<table id="matrix-table"><thead><tr><th>case</th><th>interface</th><th>source</th>' +
               "".join(f'<th title="{_e(c.library)}">{_e(c.label)}</th>' for c in cols) +
               "</tr></thead><tbody>")
    for rid in ids:
        m = meta[rid]
        row_verdicts = sorted({c.results[rid]["verdict"] for c in cols if rid in c.results})
        cells = []
        for i, c in enumerate(cols):
            r = c.results.get(rid)
            p = cols[prev[i]].results.get(rid) if i in prev else None
            cells.append(_cell(r, _changed(r, p)))
        out.append(f'<tr class="case" id="{_e(rid)}" data-id="{_e(rid)}" data-interface="{_e(m["interface"])}" '
                   f'data-area="{_e(m["area"])}" data-verdicts="{_e(" ".join(row_verdicts))}">'
                   f'<td>{_e(R.row_label(m))}</td><td>{_e(m["interface"])}</td><td class="src">{_e(m.get("source", ""))}</td>'
                   + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    out.append("<p>Column environments: " + ", ".join(f'<a href="#env-{i}">{_e(c.label)}</a>'
                                                      for i, c in enumerate(cols)) + "</p>")

    # The O_DIRECT sweep, one table per target kind.
    sweep = dio_sweep(cols)
    if sweep:
        out.append('<h2 id="dio-sweep">O_DIRECT sweep by target kind</h2>')
        for kind, heads, rows in sweep:
            out.append(f'<h3>{_e(kind)}</h3><table class="dio-table" data-kind="{_e(kind)}"><thead><tr><th>case</th>' +
                       "".join(f"<th>{_e(cols[i].label)}<br>{_e(name)}{(' · ' + _e(g)) if g else ''}</th>"
                               for i, name, g in heads) + "</tr></thead><tbody>")
            for key in sorted(rows, key=R.case_sort_key):
                out.append(f"<tr><td>{_e(key)}</td>" +
                           "".join(_cell(rows[key].get((i, name)), None) for i, name, _ in heads) + "</tr>")
            out.append("</tbody></table>")

    # Side by side: one row per scenario case and column, one cell per interface.
    out.append('<h2 id="side-by-side">Side by side across interfaces</h2><table id="side-table"><thead>'
               "<tr><th>case</th><th>scenario</th><th>column</th>" +
               "".join(f"<th>{_e(i)}</th>" for i in R.INTERFACES) + "</tr></thead><tbody>")
    by_case: dict[str, dict[str, str]] = {}
    for rid in ids:
        case, _, iface = rid.partition("@")
        iface, _, target = iface.partition("/")
        by_case.setdefault(case + (f"/{target}" if target else ""), {})[iface] = rid
    for case in sorted(by_case):
        per_iface = by_case[case]
        if len(per_iface) < 2:
            continue  # one interface: nothing to set side by side
        first = meta[next(iter(per_iface.values()))]
        for c in cols:
            if not any(rid in c.results for rid in per_iface.values()):
                continue
            out.append(f'<tr data-case="{_e(case)}"><td>{_e(R.row_label(first))}</td><td>{_e(first.get("scenario", ""))}</td>'
                       f'<td>{_e(c.label)}</td>' +
                       "".join(_cell(c.results.get(per_iface.get(i, "")), None) for i in R.INTERFACES) + "</tr>")
    out.append("</tbody></table>")

    out += keyed_section(cols, catalog)

    # Documentation deviations.
    out.append('<h2 id="deviations">Documentation deviations</h2>')
    devs = [rid for rid in ids if meta[rid].get("doc")]
    if not devs:
        out.append("<p>None of these results records a documentation deviation.</p>")
    else:
        out.append('<table id="dev-table"><thead><tr><th>case</th><th>documentation says</th>'
                   "<th>implementation (expected)</th><th>observed per column</th><th>source</th></tr></thead><tbody>")
        for rid in devs:
            m = meta[rid]
            seen = "; ".join(f"{c.label}: {c.results[rid]['verdict']} {c.results[rid].get('observed', '')}"
                             for c in cols if rid in c.results)
            out.append(f"<tr><td>{_e(rid)}</td><td>{_e(m['doc'])}</td><td>{_e(m.get('expected', ''))}</td>"
                       f"<td>{_e(seen)}</td><td>{_e(m.get('source', ''))}</td></tr>")
        out.append("</tbody></table>")

    # Environments.
    out.append('<h2 id="environments">Environments</h2>')
    for i, c in enumerate(cols):
        out.append(f'<details id="env-{i}" open><summary><b>{_e(c.label)}</b> — library build: '
                   f'{_e(c.library or "unknown")}</summary>')
        for run in c.runs:
            flag = " — <b>cut short (no summary)</b>" if run.truncated else ""
            out.append(f"<h3>{_e(run.name or run.path)}{flag}</h3>")
            out.append(_env_table({"tool": run.tool, "run": run.run, "environment": run.environment,
                                   "summary": run.summary}))
        out.append("</details>")
    out.append(f"<script>{JS}</script></body></html>")
    return "\n".join(out)
