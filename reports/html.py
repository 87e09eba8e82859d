"""Renders merged result columns as one self-contained HTML page (inline CSS and JS, no
network fetch when opened).

Views: the matrix (a row per case id, a column per kernel x device [x library build], each
cell the verdict and observed outcome, coloured; a cell whose outcome or verdict differs
from the same device's previous kernel is outlined), filters by interface, area and
verdict that the page also reads from the URL fragment (#interface=libaio&verdict=fail,
so a link or a headless browser can apply them), a per-scenario side-by-side view across
the four interfaces, the documentation-deviation list and each column's environment.
"""

from __future__ import annotations

import html
import json

from reports import results as R

CSS = """
body{font:13px/1.35 system-ui,sans-serif;margin:1em;color:#222}
h1{font-size:20px}h2{font-size:16px;margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0}
th,td{border:1px solid #ccc;padding:2px 5px;vertical-align:top;text-align:left}
th{background:#f3f3f3;position:sticky;top:0}
td.src{max-width:24em;font-size:11px;color:#444}
td.cell{white-space:nowrap;font-family:ui-monospace,monospace;font-size:12px}
td.cell small{display:block;color:#333}
.v-pass{background:#d9f2d9}.v-fail{background:#f7c6c6}.v-skip{background:#eee;color:#666}
.v-xfail{background:#fbe7c6}.v-xpass{background:#f4a3f4}.v-broken{background:#f0a070}
.v-timeout{background:#e08080}.v-crash{background:#c04040;color:#fff}
.v-boot-failed,.v-kernel-panic,.v-no-result{background:#888;color:#fff}
.v-absent{background:#fff;color:#bbb}
td.changed{outline:3px solid #1565c0;outline-offset:-3px}
tr[hidden]{display:none}
#filters label{margin-right:1em}
.legend span{display:inline-block;padding:1px 6px;margin-right:4px;border:1px solid #ccc}
details{margin:.4em 0}pre{white-space:pre-wrap;margin:0}
"""

# Filters: selects and the URL fragment drive one function; rows carry data-interface,
# data-area and data-verdicts (every verdict in the row, space-separated).
JS = """
(function(){
  var keys=['interface','area','verdict'];
  function current(){var f={};keys.forEach(function(k){f[k]=document.getElementById('f-'+k).value;});return f;}
  function apply(f){
    var shown=0;
    document.querySelectorAll('tr.case').forEach(function(tr){
      var ok=(!f.interface||tr.dataset.interface===f.interface)&&(!f.area||tr.dataset.area===f.area)&&
             (!f.verdict||(' '+tr.dataset.verdicts+' ').indexOf(' '+f.verdict+' ')>=0);
      if(ok){tr.removeAttribute('hidden');shown++;}else{tr.setAttribute('hidden','');}
    });
    document.getElementById('shown').textContent=shown;
    document.body.dataset.filtered=keys.map(function(k){return k+'='+(f[k]||'');}).join('&');
  }
  function fromHash(){
    var f={};var h=location.hash.replace(/^#/,'');
    h.split('&').forEach(function(p){var kv=p.split('=');if(keys.indexOf(kv[0])>=0){f[kv[0]]=decodeURIComponent(kv[1]||'');}});
    keys.forEach(function(k){var s=document.getElementById('f-'+k);s.value=f[k]||'';if(s.value!==(f[k]||'')){s.value='';}});
    apply(current());
  }
  keys.forEach(function(k){document.getElementById('f-'+k).addEventListener('change',function(){
    var f=current();location.hash=keys.filter(function(k){return f[k];}).map(function(k){return k+'='+encodeURIComponent(f[k]);}).join('&');
    apply(f);});});
  window.addEventListener('hashchange',fromHash);
  fromHash();
})();
"""


def _e(s) -> str:
    return html.escape(str(s), quote=True)


def _cell(r: dict | None, changed: str | None) -> str:
    if r is None:
        return '<td class="cell v-absent">—</td>'
    v = r["verdict"]
    title = []
    if r.get("expected"):
        title.append(f"expected {r['expected']}")
    if r.get("reason"):
        title.append(r["reason"])
    if changed:
        title.append(f"changed from previous kernel: {changed}")
    cls = f"cell v-{v}" + (" changed" if changed else "")
    # A cell without an observation (skip, broken, no-result) shows the start of its reason.
    obs = r.get("observed") or (r.get("reason") or "")[:48]
    return (f'<td class="{_e(cls)}" data-verdict="{_e(v)}" title="{_e(" | ".join(title))}">'
            f'{_e(v)}<small>{_e(obs)}</small></td>')


def _changed(cur: dict | None, prev: dict | None) -> str | None:
    if cur is None or prev is None:
        return None
    if prev["verdict"] != cur["verdict"] or R.outcome_key(prev) != R.outcome_key(cur):
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


def render(cols: list[R.Column], title: str = "aioharness compatibility report") -> str:
    ids = sorted({rid for c in cols for rid in c.results}, key=R.case_sort_key)
    prev = R.neighbours(cols)
    meta = {}
    for c in cols:
        for rid, r in c.results.items():
            meta.setdefault(rid, r)
    interfaces = sorted({meta[i]["interface"] for i in ids},
                        key=lambda x: R.INTERFACES.index(x) if x in R.INTERFACES else 9)
    areas = sorted({meta[i]["area"] for i in ids})
    verdicts = [v for v in R.VERDICTS if any(r["verdict"] == v for c in cols for r in c.results.values())]

    out = [f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{_e(title)}</title>",
           f"<style>{CSS}</style></head><body>", f"<h1>{_e(title)}</h1>"]
    out.append(f"<p>{len(ids)} case ids × {len(cols)} column(s) from "
               f"{sum(len(c.runs) for c in cols)} result file(s). "
               "Outlined cells differ (verdict or observed outcome) from the same device's previous kernel.</p>")
    out.append('<p class="legend">' + "".join(f'<span class="v-{v}">{v}</span>' for v in R.VERDICTS) + "</p>")

    # Matrix.
    out.append('<h2 id="matrix">Matrix</h2><div id="filters">' + _select("interface", interfaces) +
               _select("area", areas) + _select("verdict", verdicts) +
               ' <span><b id="shown">0</b> rows shown</span></div>')
    out.append('<table id="matrix-table"><thead><tr><th>case</th><th>interface</th><th>source</th>' +
               "".join(f'<th><a href="#env-{i}">{_e(c.label)}</a></th>' for i, c in enumerate(cols)) +
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
                   f'<td>{_e(m["case"])}</td><td>{_e(m["interface"])}</td><td class="src">{_e(m.get("source", ""))}</td>'
                   + "".join(cells) + "</tr>")
    out.append("</tbody></table>")

    # Side by side: one row per scenario case and column, one cell per interface.
    out.append('<h2 id="side-by-side">Side by side across interfaces</h2><table id="side-table"><thead>'
               "<tr><th>case</th><th>scenario</th><th>column</th>" +
               "".join(f"<th>{_e(i)}</th>" for i in R.INTERFACES) + "</tr></thead><tbody>")
    cases = sorted({meta[i]["case"] for i in ids})
    for case in cases:
        scen = next((meta[i].get("scenario", "") for i in ids if meta[i]["case"] == case), "")
        for c in cols:
            if not any(c.results.get(f"{case}@{i}") for i in R.INTERFACES):
                continue
            out.append(f'<tr data-case="{_e(case)}"><td>{_e(case)}</td><td>{_e(scen)}</td><td>{_e(c.label)}</td>' +
                       "".join(_cell(c.results.get(f"{case}@{i}"), None) for i in R.INTERFACES) + "</tr>")
    out.append("</tbody></table>")

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
        if c.duplicates:
            out.append(f"<p>Ids present in more than one file of this column (last kept): "
                       f"{_e(', '.join(sorted(set(c.duplicates))))}</p>")
        for run in c.runs:
            flag = " — <b>cut short (no summary)</b>" if run.truncated else ""
            out.append(f"<h3>{_e(run.name or run.path)}{flag}</h3>")
            out.append(_env_table({"tool": run.tool, "run": run.run, "environment": run.environment,
                                   "summary": run.summary}))
        out.append("</details>")
    out.append(f"<script>{JS}</script></body></html>")
    return "\n".join(out)
