"""Load aioharness result documents (schema aioharness-result/1) into runs and columns.

Every view (HTML, Markdown, the gate) is rendered from this one model, so the rules for
reading a result set live here: a file is a JSON document or a JSONL stream; a directory
is every *.json/*.jsonl under it. Verdicts, their classes and the interfaces come from the
harness's vocabulary (reports/vocabulary.py), never from a list of our own.

Nothing is dropped silently. Bad input is an InputError (one line naming the file, exit 2):
another schema version, an unknown verdict, a result without an id, an id twice in one
document, and a document cut short (a killed run: no summary, or a partial last result)
unless the caller asks for `partial` reading, which keeps its complete results and marks
the run truncated. Runs of one kernel x device x library build merge into one column when
their ids are disjoint (VM matrix shards); runs that share ids (two runs of one
environment) become separate columns, each labelled with its file.
"""

from __future__ import annotations

import argparse
import dataclasses
import fnmatch
import json
import os
import re
import signal
import sys
from pathlib import Path
from typing import Any, Iterable

from reports import vocabulary as V

SCHEMA = "aioharness-result/1"
VERDICTS = V.VERDICTS
# Verdicts that mean "something went wrong" (class bad; xpass is neutral: news, not failure).
BAD_VERDICTS = V.BAD
INTERFACES = V.INTERFACES


class InputError(Exception):
    """A file or argument that is not usable; reported as one line, exit status 2."""


class ArgParser(argparse.ArgumentParser):
    """argparse whose usage errors are one InputError line (exit 2), not a usage dump."""

    def error(self, message):
        raise InputError(f"usage: {message} (see --help)")

    def add_partial(self):
        """--partial, which every reader of result files takes (load(partial=...))."""
        self.add_argument("--partial", action="store_true",
                          help="read result files cut short (a killed run) up to their last complete result")

    def parse_or_none(self, argv):
        """The parsed arguments, or None after the one usage line on stderr (the caller exits 2)."""
        try:
            return self.parse_args(argv)
        except InputError as e:
            print(f"{self.prog}: {e}", file=sys.stderr)
            return None


@dataclasses.dataclass
class Run:
    """One result document: its header, environment and results keyed by id."""
    path: str
    tool: dict
    run: dict
    environment: dict
    results: dict[str, dict]
    summary: dict | None
    truncated: bool = False
    name: str = ""  # for display: relative to the directory given, or the file's own name

    @property
    def vm(self) -> dict:
        return self.environment.get("vm") or {}

    @property
    def kernel(self) -> str:
        """The kernel release: the VM orchestrator's {"package","version","release"} (or a
        plain string) for VM runs, else the host's uname release."""
        k = self.vm.get("kernel")
        if isinstance(k, dict):
            k = k.get("release") or k.get("version") or k.get("package")
        return str(k or self.environment.get("kernel_release") or "unknown")

    @property
    def device(self) -> str:
        return str(self.vm.get("device") or "host")

    @property
    def library_build(self) -> str:
        """Names the AIO library build under test: an explicit label if the runner set one,
        else the liburing/libaio versions and paths (a different build changes them)."""
        env = self.environment
        explicit = env.get("library_build") or self.vm.get("library_build")
        if explicit:
            return str(explicit)
        libs = env.get("libraries") or {}
        parts = []
        for name in ("glibc", "liburing", "libaio"):
            lib = libs.get(name) or {}
            if lib:
                parts.append(f"{name} {lib.get('version', '?')}" +
                             (f" ({lib['path']})" if lib.get("path") else ""))
        return ", ".join(parts)


@dataclasses.dataclass
class Column:
    """One report column: the runs of one kernel x device [x library build] whose ids are
    disjoint (shards of one target), or one run of several of one environment."""
    kernel: str
    device: str
    library: str
    label: str = ""
    runs: list[Run] = dataclasses.field(default_factory=list)
    results: dict[str, dict] = dataclasses.field(default_factory=dict)
    instance: int = 0  # 1, 2, ... when several runs of one environment share ids

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kernel, self.device, self.library)


# C0 controls and DEL as the Unicode control pictures (ESC -> U+241B), as the KTAP and JUnit
# writers show them: a reason or source may hold any byte, and a report must neither carry a
# terminal escape nor lose the fact that one was there. Tab and newline are left to the caller.
_CONTROL_PICTURES = {c: 0x2400 + c for c in range(0x20) if c not in (0x09, 0x0A)} | {0x7F: 0x2421}


def visible(s) -> str:
    """`s` as text with its control characters shown as control pictures."""
    return str(s).translate(_CONTROL_PICTURES)


def kernel_sort_key(release: str) -> tuple:
    """Orders kernel releases numerically: 5.10 < 6.1 < 6.12 < 6.18 < 7.0."""
    nums = re.match(r"(\d+(?:\.\d+)*)", release)
    if not nums:
        return ((), release)
    return (tuple(int(n) for n in nums.group(1).split(".")), release)


def _check_result(obj: Any, where: str) -> dict:
    if not isinstance(obj, dict):
        raise InputError(f"{where}: a result is not an object")
    for key in ("id", "verdict"):
        if not isinstance(obj.get(key), str) or not obj.get(key):
            raise InputError(f"{where}: result without a string '{key}'")
    if not V.check_verdict(obj["verdict"]):
        raise InputError(f"{where}: result {obj['id']}: unknown verdict {obj['verdict']!r} "
                         f"(the vocabulary has {', '.join(V.VERDICTS)})")
    # Fill the derived fields a minimal writer may omit, from the id "area.case@interface".
    # (A VM-level row for a case the guest never finished may carry nulls for these.)
    case, _, iface = obj["id"].partition("@")
    iface = iface.split("/", 1)[0]  # "posix-aio/loop-512": a target case
    for key, value in (("case", case), ("interface", iface), ("area", case.split(".", 1)[0])):
        if not obj.get(key):
            obj[key] = value
    for key in ("expected", "observed", "reason", "source"):
        if obj.get(key) is None:
            obj[key] = ""
    obj.setdefault("observations", [])
    return obj


class NotResult(InputError):
    """Valid JSON, but some other document than a result (another or no schema)."""


def _check_header(doc: Any, where: str) -> None:
    if not isinstance(doc, dict):
        raise NotResult(f"{where}: not a JSON object")
    if doc.get("schema") != SCHEMA:
        raise NotResult(f"{where}: schema is {doc.get('schema')!r}, expected {SCHEMA!r}")
    if not isinstance(doc.get("environment"), dict):
        raise InputError(f"{where}: no 'environment' object")


def _make_run(path: str, header: dict, results: Iterable[Any], summary, truncated) -> Run:
    by_id: dict[str, dict] = {}
    for i, r in enumerate(results):
        r = _check_result(r, f"{path}: results[{i}]")
        if r["id"] in by_id:
            raise InputError(f"{path}: results[{i}]: id {r['id']} appears twice in one document")
        by_id[r["id"]] = r
    return Run(path=path, tool=header.get("tool") or {}, run=header.get("run") or {},
               environment=header["environment"], results=by_id,
               summary=summary if isinstance(summary, dict) else None, truncated=truncated)


def _cut_short(path: str, partial: bool, complete: int) -> None:
    if not partial:
        raise InputError(f"{path}: cut short (no summary: a run killed mid-way?); "
                         f"--partial reads its {complete} complete result(s)")


def _salvage_prefix(path: str, text: str, partial: bool) -> Run:
    """Reads a streamed JSON document cut short: the header before "results", then each
    complete result; a partial last result is dropped."""
    m = re.search(r'"results"\s*:\s*\[', text)
    if not m:
        raise InputError(f"{path}: not valid JSON and no streamed 'results' array to recover")
    try:
        header = json.loads(text[:m.start()].rstrip().rstrip(",") + "}")
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: unreadable header before 'results': {e.msg}") from None
    _check_header(header, path)
    dec = json.JSONDecoder()
    pos, results = m.end(), []
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text) or text[pos] == "]":
            break
        try:
            obj, pos = dec.raw_decode(text, pos)
        except json.JSONDecodeError:
            break
        results.append(obj)
    _cut_short(path, partial, len(results))
    return _make_run(path, header, results, None, truncated=True)


def _load_jsonl(path: str, text: str, partial: bool) -> Run:
    header = None
    results, summary = [], None
    lines = text.splitlines()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            if n == len(lines) and partial:  # a killed run leaves a partial last line
                break
            raise InputError(f"{path}:{n}: not JSON: {e.msg}") from None
        kind = obj.get("type") if isinstance(obj, dict) else None
        if kind == "environment":
            header = {"schema": obj.get("schema"), "tool": obj.get("tool"), "run": obj.get("run"),
                      "environment": obj.get("environment")}
            _check_header(header, f"{path}:{n}")
        elif kind == "result":
            if header is None:
                raise InputError(f"{path}:{n}: result before the environment line")
            results.append({k: v for k, v in obj.items() if k != "type"})
        elif kind == "summary":
            summary = obj.get("summary") if isinstance(obj.get("summary"), dict) else \
                {k: v for k, v in obj.items() if k != "type"}
        elif isinstance(kind, str) and kind.startswith("aioh-"):
            # The VM orchestrator's raw guest stream (vm/results.py); the result document
            # it merges from such streams is the .json next to it.
            raise NotResult(f"{path}:{n}: a VM guest's raw stream ({kind!r} record)")
        else:
            raise InputError(f"{path}:{n}: unknown line type {kind!r}")
    if header is None:
        raise InputError(f"{path}: no environment line")
    if summary is None:
        _cut_short(path, partial, len(results))
    return _make_run(path, header, results, summary, truncated=summary is None)


def load_file(path: str, partial: bool = False) -> Run:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: {e}") from None
    if path.endswith(".jsonl"):
        return _load_jsonl(path, text, partial)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        return _salvage_prefix(path, text, partial)
    _check_header(doc, path)
    if not isinstance(doc.get("results"), list):
        raise InputError(f"{path}: 'results' is not an array")
    if "summary" not in doc:
        _cut_short(path, partial, len(doc["results"]))
    return _make_run(path, doc, doc["results"], doc.get("summary"), truncated="summary" not in doc)


def expand(paths: Iterable[str]) -> list[str]:
    """Files as given; directories become their *.json and *.jsonl files, sorted."""
    out = []
    for p in paths:
        if os.path.isdir(p):
            found = sorted(str(f) for f in Path(p).rglob("*")
                           if f.is_file() and f.suffix in (".json", ".jsonl"))
            if not found:
                raise InputError(f"{p}: directory holds no .json/.jsonl result files")
            out.extend(found)
        elif os.path.isfile(p):
            out.append(p)
        else:
            raise InputError(f"{p}: no such file or directory")
    return out


def load(paths: Iterable[str], notes: list[str] | None = None, partial: bool = False) -> list[Run]:
    """Loads files as given (each must be a result document) and the result documents in
    directories; a directory's other JSON files (a matrix summary, a gate report) are passed
    over with a note, since result sets are published next to such files. A file named
    twice (directly and through its directory) is read once."""
    runs = []
    seen: set[str] = set()
    formats: dict[str, Run] = {}  # one run written as JSON and as JSONL is one run
    for p in paths:
        for f in expand([p]):
            real = os.path.realpath(f)
            if real in seen:
                continue
            seen.add(real)
            try:
                run = load_file(f, partial)
                # Pages name files independently of where they were rendered from.
                run.name = os.path.relpath(f, p) if os.path.isdir(p) else os.path.basename(f)
                same = formats.get(_identity(run))
                if same is not None:
                    if notes is not None:
                        notes.append(f"{f}: the run of {same.path} in another format; read once")
                    continue
                formats[_identity(run)] = run
                runs.append(run)
            except NotResult as e:
                if not os.path.isdir(p):
                    raise
                if notes is not None:
                    notes.append(f"{f}: skipped, not a result document ({e})")
    if not runs:
        raise InputError("no result documents in " + ", ".join(paths) if paths else "no result files given")
    return runs


def _identity(run: Run) -> str:
    """The same harness invocation (start time, host, argv) in the same environment with the
    same verdicts: one run written in two formats (`--output json:... --output jsonl:...`),
    not two runs. The environment counts: VM guests of one matrix share start time and argv."""
    return json.dumps([run.run.get("started"), run.run.get("host"), run.run.get("argv"), run.environment,
                       sorted((i, r["verdict"]) for i, r in run.results.items())], sort_keys=True)


def columns(runs: list[Run]) -> list[Column]:
    """Merges runs into columns ordered by device, library build, then kernel version: the
    runs of one environment whose ids are disjoint share a column; a run that repeats an id
    of that column starts another one (labelled "#2 (file)"), so no result is hidden."""
    groups: dict[tuple, list[Column]] = {}
    for run in runs:
        key = (run.kernel, run.device, run.library_build)
        cols = groups.setdefault(key, [])
        col = next((c for c in cols if not (c.results.keys() & run.results.keys())), None)
        if col is None:
            col = Column(*key, instance=len(cols) + 1)
            cols.append(col)
        col.runs.append(run)
        col.results.update(run.results)
    ordered = sorted((c for cols in groups.values() for c in cols),
                     key=lambda c: (c.device, c.library, kernel_sort_key(c.kernel), c.instance))
    libs_per_kd: dict[tuple, set] = {}
    for c in ordered:
        libs_per_kd.setdefault((c.kernel, c.device), set()).add(c.library)
    for c in ordered:
        c.label = f"{c.kernel} × {c.device}"
        if len(libs_per_kd[(c.kernel, c.device)]) > 1:
            c.label += f" × {c.library}"
        if len(groups[c.key]) > 1:
            c.label += f" #{c.instance} ({', '.join(r.name or os.path.basename(r.path) for r in c.runs)})"
    return ordered


def neighbours(cols: list[Column]) -> dict[int, int]:
    """Index of each column's previous kernel in the same device and library build."""
    prev: dict[int, int] = {}
    last: dict[tuple, int] = {}
    for i, c in enumerate(cols):  # cols are sorted by (device, library, kernel)
        group = (c.device, c.library, c.instance)
        if group in last:
            prev[i] = last[group]
        last[group] = i
    return prev


def _token(o: dict) -> str:
    token = o.get("errno") or o.get("sym")
    if token is None:
        token = o.get("value")
    return str(token)


def outcome_key(r: dict) -> tuple:
    """What was observed, as (token, phase) pairs: errno name, symbol or value. Channels are
    fixed by each interface's convention, so they are not part of the outcome."""
    obs = r.get("observations") or []
    if obs:
        return tuple((_token(o), str(o.get("phase", ""))) for o in obs)
    return tuple((t.rpartition("@")[0], t.rpartition("@")[2])
                 for t in (s.strip() for s in (r.get("observed") or "").split(",")) if t)


def signal_number(name: str) -> int | None:
    """SIGSEGV -> 11 (this machine's numbering, which is the harness's)."""
    try:
        return int(signal.Signals[name])
    except KeyError:
        return None


def _same_token(a: str, b: str, alternatives: frozenset[str]) -> bool:
    if a == b:
        return True
    # One outcome spelled two ways: a death by signal as its name (SIGSEGV) or, in files
    # written before the harness named it, its number (11).
    for x, y in ((a, b), (b, a)):
        if x.startswith("SIG") and y.lstrip("-").isdigit() and signal_number(x) == int(y):
            return True
    # Both are answers the row declares equally right (an expectation with `|`, which the
    # table requires a `why` for).
    return a in alternatives and b in alternatives


def expectation_alternatives(expected: str) -> list[frozenset[str]]:
    """"0|-1@completion, 16@completion" -> [{"0", "-1"}, {"16"}]."""
    out = []
    for step in (s.strip() for s in (expected or "").split(",")):
        if step:
            out.append(frozenset(t.strip() for t in step.rpartition("@")[0].split("|")))
    return out


def same_outcome(a: dict, b: dict, expected: str | None = None) -> bool:
    """Whether two results observed the same outcome: the same (token, phase) sequence,
    where a signal by name equals it by number, and where `expected` (the row's
    expectation) allows alternatives at a step, any two of them are equal there."""
    ka, kb = outcome_key(a), outcome_key(b)
    if len(ka) != len(kb):
        return False
    alts = expectation_alternatives(expected) if expected else []
    for i, ((ta, pa), (tb, pb)) in enumerate(zip(ka, kb)):
        allowed = alts[i] if i < len(alts) and len(alts[i]) > 1 else frozenset()
        if pa != pb or not _same_token(ta, tb, allowed):
            return False
    return True


def glob_match(pattern: str, text: str) -> bool:
    return fnmatch.fnmatchcase(text, pattern)


def target_name(r: dict) -> str:
    """The O_DIRECT target a case ran on ("" for an ordinary case): the result's target
    record, else the id's "@interface/target" suffix."""
    t = r.get("target")
    if isinstance(t, dict) and t.get("name"):
        return str(t["name"])
    iface = r["id"].partition("@")[2]
    return iface.partition("/")[2]


def row_label(r: dict) -> str:
    """A row's case, with its target when it has one: "dio.open on loop-512"."""
    t = target_name(r)
    return f"{r['case']} on {t}" if t else r["case"]


def case_sort_key(rid: str) -> tuple:
    case, _, iface = rid.partition("@")
    iface, _, target = iface.partition("/")
    order = INTERFACES.index(iface) if iface in INTERFACES else len(INTERFACES)
    return (case, target, order, iface)
