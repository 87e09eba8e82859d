"""`scripts/report RESULT... --out DIR`: merges result files (host runs, VM matrix shards,
files or directories) into DIR/report.html (self-contained) and DIR/summary.md.

A writer never overwrites: if either output exists, nothing is written and the exit status
is 2 with one line on stderr. Bad input (another schema version, an unknown verdict, a file
cut short without --partial) is also exit 2, with nothing written; otherwise 0 (the
verdicts inside the results do not change the exit status: judging them is the gate's job).
"""

from __future__ import annotations

import os
import sys

from reports import html, keyed as K, markdown
from reports import results as R


def main(argv: list[str] | None = None) -> int:
    ap = R.ArgParser(prog="report", description=__doc__.split("\n\n")[0])
    ap.add_argument("inputs", nargs="+", metavar="RESULT", help="result file (.json/.jsonl) or directory")
    ap.add_argument("--out", required=True, help="output directory (created if absent)")
    ap.add_argument("--title", default="aioharness compatibility report")
    ap.add_argument("--cases", default=str(K.DEFAULT_CASES),
                    help="the case tables whose `when` clauses the keyed-changes view reads (default: this checkout's)")
    ap.add_partial()
    args = ap.parse_or_none(argv)
    if args is None:
        return 2
    targets = {name: os.path.join(args.out, name) for name in ("report.html", "summary.md")}
    try:
        existing = [p for p in targets.values() if os.path.exists(p)]
        if existing:
            raise R.InputError(f"{existing[0]}: exists; refusing to overwrite")
        notes: list[str] = []
        cols = R.columns(R.load(args.inputs, notes, partial=args.partial))
        if not os.path.isdir(args.cases):
            raise R.InputError(f"--cases {args.cases}: not a directory")
        catalog = K.load_catalog(args.cases)
        pages = {"report.html": html.render(cols, args.title, catalog),
                 "summary.md": markdown.render(cols, args.title, catalog)}
        os.makedirs(args.out, exist_ok=True)
        for name, text in pages.items():
            with open(targets[name], "x", encoding="utf-8") as f:
                f.write(text)
    except FileExistsError as e:
        print(f"report: {e.filename}: exists; refusing to overwrite", file=sys.stderr)
        return 2
    except (R.InputError, OSError) as e:
        print(f"report: {e}", file=sys.stderr)
        return 2
    for n in notes:
        print(f"report: note: {n}")
    ids = {rid for c in cols for rid in c.results}
    print(f"report: {len(ids)} case ids x {len(cols)} column(s) -> {targets['report.html']}, {targets['summary.md']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
