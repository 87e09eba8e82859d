"""`scripts/matrix`: the harness's catalog across kernels x emulated devices.

Asks the harness for the case list (`--list --format json`), resolves and fetches each kernel,
boots one guest per kernel x device (in parallel with --jobs), writes one JSON document and its
console logs per target into --out, shows live progress and ends with a summary table.
Exit: 0 when every target produced a result for every case, nothing failed and (unsharded)
every case executed in at least one guest (matrix-coverage.*.json lists where each did); 1
otherwise, 2 on bad usage.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from . import catalog, deps, devfaults, kernel, libs, qemu, shard
from reports import vocabulary as V

from .results import document, vm_result
from .run import Options, guest_disks_spec, run_target, stem

REPO = Path(__file__).resolve().parent.parent
# Measured on this repo's 2-core host under TCG (6.1, time to the init's first marker): PVH
# entry of the extracted vmlinux ~9-10 s vs bzImage ~15-25 s; SeaBIOS and qboot within noise.
# `scripts/bench-matrix` re-measures and records the fastest working path per kernel.
BOOT_PREFERENCE = "pvh+seabios"
BOOT_PATHS_FILE = "boot-paths.json"    # {kernel release: fastest working path}, by bench-matrix


def boot_path_for(abi: str, requested: str, cache: Path) -> qemu.BootPath:
    if requested != "auto":
        return qemu.BootPath(*requested.split("+"))
    f = cache / BOOT_PATHS_FILE
    measured = json.loads(f.read_text()).get(abi) if f.exists() else None
    return qemu.BootPath(*(measured or BOOT_PREFERENCE).split("+"))


def cache_dir() -> Path:
    return Path(os.environ.get("AIOH_CACHE") or Path.home() / ".cache" / "aioharness")


def default_cases() -> Path:
    return Path(os.environ.get("AIOH_CASES") or REPO / "cases")


def find_harness(given: str | None) -> Path | None:
    for cand in (given, os.environ.get("AIOH_HARNESS"), REPO / "build" / "harness"):
        if cand and Path(cand).is_file() and os.access(cand, os.X_OK):
            return Path(cand).resolve()
    return None


def list_cases(harness: Path, cases_dir: Path, interface: str, filters: list[str]) -> list[dict]:
    argv = [str(harness), "--list", "--format", "json", "--cases", str(cases_dir),
            "--interface", interface]
    for f in filters:
        argv += ["--filter", f]
    # The sweep's targets are the guest's disks (vm/run.py), named alike on every geometry.
    env = dict(os.environ, AIOH_GUEST_DISKS=guest_disks_spec("nvme-512"))
    r = subprocess.run(argv, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise RuntimeError(f"harness --list failed: {r.stderr.strip()}")
    return json.loads(r.stdout)


class Progress:
    """One line per change of phase (and at most every 15 s while cases finish), each with the
    whole matrix's count of finished ids (of `expected`, once known) and the time left at the
    rate so far."""

    def __init__(self, stream=sys.stderr, expected: int = 0):
        self.t0 = time.time()
        self.lock = threading.Lock()
        self.stream = stream
        self.expected = expected
        self.last: dict[str, tuple] = {}
        self.done: dict[str, int] = {}

    def __call__(self, target: str, phase: str, done: int, total: int, boot: int = 1,
                 ending: str | None = None) -> None:
        now = time.time()
        with self.lock:
            self.done[target] = done
            prev = self.last.get(target)
            if prev and prev[0] == phase and ending is None and now - prev[1] < 15 and done != total:
                return
            self.last[target] = (phase, now)
            el = int(now - self.t0)
            extra = f" boot {boot}" if boot > 1 else ""
            extra += f" ended: {ending}" if ending else ""
            print(f"[{el // 60:3d}:{el % 60:02d}] {target:<34} {phase:<11} {done:4d}/{total:<4d}{extra}"
                  f"{self.overall(now)}", file=self.stream, flush=True)

    def overall(self, now: float) -> str:
        if not self.expected:
            return ""
        done = sum(self.done.values())
        left = ""
        if 0 < done < self.expected:
            secs = int((now - self.t0) * (self.expected - done) / done)
            left = f", ~{secs // 60}:{secs % 60:02d} left"
        return f"  | matrix {done}/{self.expected}{left}"


def summary_table(rows: list[tuple[str, dict]]) -> str:
    cols = ["total", *V.VERDICTS]
    head = f"{'kernel x device':<36}" + "".join(f"{c:>13}" if len(c) > 7 else f"{c:>8}" for c in cols)
    lines = [head, "-" * len(head)]
    for name, s in rows:
        lines.append(f"{name:<36}" + "".join(
            f"{s.get(c, 0):>13}" if len(c) > 7 else f"{s.get(c, 0):>8}" for c in cols))
    return "\n".join(lines)


def default_jobs() -> int:
    try:
        mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        mem_gb = 4
    return max(1, min(os.cpu_count() or 1, int(mem_gb // 3)))


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="scripts/matrix", description=__doc__.split("\n\n")[0])
    p.add_argument("--kernels", help="series from vm/kernels.toml, comma-separated (default: its default rows)")
    p.add_argument("--devices", default="nvme-512,nvme-4k,virtio-512",
                   help=f"comma-separated, of: {', '.join(qemu.DEVICES)}")
    p.add_argument("--interface", default="all", help="passed to harness --list")
    p.add_argument("--filter", action="append", default=[], help="glob on ids; repeatable")
    p.add_argument("--jobs", type=int, default=default_jobs(),
                   help="guests booting or running their catalog at once (default: one per core, memory "
                        "allowing; on the 2-core dev host 2 jobs ran 2 targets in 40 s vs 59 s for 1); a "
                        "guest left with its alone and device-fault parts frees its place for the next")
    p.add_argument("--out", default=None, help="output dir (default results/matrix-<time>)")
    p.add_argument("--shard", default=None, help="i/n: run the i-th of n deterministic slices")
    p.add_argument("--refresh", action="store_true", help="re-fetch package lists and kernels")
    p.add_argument("--kernel-image", help="boot this bzImage instead of the catalog")
    p.add_argument("--modules", help="with --kernel-image: its lib/modules/<release> dir")
    p.add_argument("--kernel-deb", help="boot the kernel in this linux-image .deb")
    p.add_argument("--accel", default="auto", choices=["auto", "kvm", "tcg"])
    p.add_argument("--boot", default="auto",
                   help="boot path: auto or one of " + ", ".join(b.name for b in qemu.BOOT_PATHS))
    p.add_argument("--fs", default="ext4", choices=["ext4", "xfs", "btrfs"], help="scratch filesystem")
    p.add_argument("--timeout", type=int, default=None, help="harness --timeout (per case, seconds)")
    p.add_argument("--boot-timeout", type=float, default=240.0)
    p.add_argument("--idle-timeout", type=float, default=300.0,
                   help="seconds without a finished case before the guest counts as hung")
    p.add_argument("--memory", type=int, default=2048, help="guest MiB")
    # Not 1, although one 6.12 pair ran 10 % faster so (275 s vs 306 s wall, same verdicts): with
    # one vCPU every 5.10 guest panicked in the harness's start-up probe (an RCU callback into the
    # just-unloaded null_blk module, "Fatal exception in interrupt"), boot after boot.
    p.add_argument("--cpus", type=int, default=2, help="guest vCPUs (more than one: multi-threaded TCG)")
    p.add_argument("--guest-jobs", type=int, default=None,
                   help="harness --jobs in each guest (default: the harness's automatic choice, when it "
                        "has --jobs)")
    p.add_argument("--harness", help="harness binary (default: $AIOH_HARNESS or build/harness)")
    p.add_argument("--cases", default=str(default_cases()),
                   help="case tables (default: $AIOH_CASES, as the harness, else the repo's cases/)")
    p.add_argument("--list-targets", action="store_true", help="print this shard's targets and exit")
    p.add_argument("--no-install", action="store_true", help="do not apt-get missing tools")
    p.add_argument("--device-fault", action="append", default=[], metavar="EVENT:ERRNO[:sector=N][:always]",
                   help="blkdebug rule on the disk under test, from boot on (so also during mkfs: pick a "
                        "sector past the filesystem's metadata); NVMe retries are turned off; repeatable")
    p.add_argument("--libs", help="library builds of libmatrix/libs.toml to swap in (ids or library names, "
                                  "comma-separated): each target runs once per build (vm/libs.py)")
    p.add_argument("--inject-panic-after", type=int, default=None, help=argparse.SUPPRESS)
    # Test-only: the guests may run the sysrq panic row (tests/fixtures/cases/panic.toml).
    p.add_argument("--test-allow-panic", action="store_true", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def snapshot_inputs(harness: Path, cases: Path, dest: Path) -> tuple[Path, Path]:
    import shutil
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    shutil.copy2(harness, dest / "harness")
    shutil.copytree(cases, dest / "cases")
    return dest / "harness", dest / "cases"


def write_new(dest: Path, doc: dict) -> None:
    """Write a report atomically, never over an existing one."""
    tmp = dest.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    if dest.exists():
        raise FileExistsError(f"{dest} exists; a result is never overwritten")
    tmp.rename(dest)


def usage(msg: str) -> int:
    print(f"matrix: {msg}", file=sys.stderr)
    return 2


def harness_supports(harness: Path, flag: str) -> bool:
    """Whether the harness binary takes `flag` (it lists its options under --help)."""
    import re
    r = subprocess.run([str(harness), "--help"], capture_output=True, text=True)
    return re.search(rf"(^|[\s,\[]){re.escape(flag)}(?![\w-])", r.stdout, re.M) is not None


def guest_harness_args(harness: Path, guest_jobs: int | None) -> tuple[tuple[str, ...], str]:
    """The harness options every guest gets for its scheduler, and a note when one is dropped.
    With --jobs known to the harness the guest overlaps its cases (its own automatic choice, sized
    on the guest's CPUs, unless --guest-jobs names a number); without it, one at a time."""
    if not harness_supports(harness, "--jobs"):
        return (), "" if guest_jobs is None else "harness has no --jobs; guests run one case at a time"
    return (("--jobs", str(guest_jobs)) if guest_jobs else ()), ""


# Verdicts that mean the row's case really ran in that guest (a skip or a VM verdict did not).
EXECUTED = tuple(v for v in V.HARNESS_VERDICTS if v != "skip")


def coverage(docs: dict[str, dict]) -> dict[str, list[str]]:
    """id -> the targets (kernel x device names) where it executed, in catalog order of ids."""
    out: dict[str, list[str]] = {}
    for name, doc in docs.items():
        for r in doc.get("results", []):
            where = out.setdefault(r["id"], [])
            if r.get("verdict") in EXECUTED and not r.get("vm"):
                where.append(name)
    return out


@dataclass
class Plan:
    """What a matrix run does, decided from the command line before anything boots."""
    a: argparse.Namespace
    argv: list[str]
    shard: tuple[int, int]
    devices: list[str]
    faults: tuple
    specs: list
    labels: list[str]
    mine: list[tuple[str, str]]
    runs: list[tuple[str, str, tuple[str, Path | None]]]
    cache: Path


def plan(argv: list[str]) -> Plan | int:
    """The run's plan, or an exit status (2: bad usage)."""
    a = parse_args(argv)
    try:
        i, n = shard.parse_shard(a.shard)
    except ValueError as e:
        return usage(str(e))
    devices = [qemu.ALIASES.get(d.strip(), d.strip()) for d in a.devices.split(",") if d.strip()]
    bad = [d for d in devices if d not in qemu.DEVICES]
    if bad:
        return usage(f"unknown device {bad[0]} (known: {', '.join(qemu.DEVICES)})")
    if a.boot != "auto" and a.boot not in {b.name for b in qemu.BOOT_PATHS}:
        return usage(f"unknown boot path {a.boot}")
    if a.guest_jobs is not None and a.guest_jobs < 1:
        return usage(f"--guest-jobs {a.guest_jobs}: want a positive number")
    try:
        faults = tuple(qemu.DeviceFault.parse(f) for f in a.device_fault)
        qemu.blkdebug_config(list(faults))
    except ValueError as e:
        return usage(str(e))
    cache = cache_dir()
    user_kernel = a.kernel_image or a.kernel_deb
    specs = [] if user_kernel else catalog.select(catalog.load_catalog(), a.kernels)
    labels = [Path(user_kernel).name] if user_kernel else [s.series for s in specs]
    mine = shard.shard(shard.targets(labels, devices), i, n)
    try:
        lib_builds = libs.resolve(a.libs, cache, a.refresh)
    except ValueError as e:
        return usage(str(e))
    # kernel x device x library build (one run of the system libraries without --libs).
    runs = [(k, d, lib) for k, d in mine for lib in (lib_builds or [("", None)])]
    return Plan(a, argv, (i, n), devices, faults, specs, labels, mine, runs, cache)


def fetch_kernels(p: Plan, progress, total: int) -> dict[str, kernel.Kernel | Exception]:
    """Each kernel of this shard, fetched once; a kernel that cannot be had is its exception."""
    a = p.a
    kernels: dict[str, kernel.Kernel | Exception] = {}
    for label in dict.fromkeys(k for k, _ in p.mine):
        progress(target=label, phase="fetch", done=0, total=total)
        try:
            if a.kernel_image:
                kernels[label] = kernel.from_image(Path(a.kernel_image).resolve(),
                                                   Path(a.modules).resolve() if a.modules else None, p.cache)
            elif a.kernel_deb:
                kernels[label] = kernel.from_deb(Path(a.kernel_deb).resolve(), p.cache)
            else:
                spec = next(s for s in p.specs if s.series == label)
                kernels[label] = kernel.fetch(spec, p.cache, refresh=a.refresh,
                                              refresh_lists=a.refresh and not kernels,
                                              log=lambda s: print(f"matrix: fetch {s}", file=sys.stderr))
        except Exception as e:   # one kernel that cannot be fetched must not stop the others
            kernels[label] = e
            print(f"matrix: fetch {label} failed: {e}", file=sys.stderr)
    return kernels


@dataclass
class Inputs:
    """The snapshot every guest runs, and the options every guest's harness gets."""
    harness: Path
    cases_dir: Path
    cases: list[dict]
    accel: str
    harness_args: tuple[str, ...]
    out: Path


class Slots:
    """At most `n` guests boot or run their catalog at once (--jobs); a guest left with only its
    alone and fault parts gives its slot up (run.Options.on_light), so the next guest boots while
    those finish instead of after, and takes one back before it boots again (run.Options.on_boot:
    a panic there reboots it into a heavy boot)."""

    def __init__(self, n: int):
        self.sem = threading.Semaphore(max(1, n))

    def hold(self) -> "Slot":
        self.sem.acquire()
        return Slot(self.sem)


class Slot:
    """One guest's place among the --jobs: released at most once per time it was taken."""

    def __init__(self, sem: threading.Semaphore):
        self.sem, self.lock, self.held = sem, threading.Lock(), True

    def release(self) -> None:
        with self.lock:
            if self.held:
                self.held = False
                self.sem.release()

    def take(self) -> None:
        """Hold the slot again if it was given up (waits for one); a no-op while held."""
        with self.lock:
            if self.held:
                return
        self.sem.acquire()
        with self.lock:
            self.held = True


def run_one(p: Plan, inp: Inputs, kernels: dict, target, progress, slots: Slots | None = None) -> tuple[str, dict]:
    slot = slots.hold() if slots else None
    try:
        return run_one_held(p, inp, kernels, target, progress, slot)
    finally:
        if slot:
            slot.release()


def run_one_held(p: Plan, inp: Inputs, kernels: dict, target, progress, slot: Slot | None) -> tuple[str, dict]:
    """One kernel x device (x library build): its guest, the device-fault parts included, as one
    document written to --out; returns (name, document)."""
    a, cases, out = p.a, inp.cases, inp.out
    label, device, (lib_id, lib_dir) = target
    argv = ["scripts/matrix", *p.argv]
    k = kernels[label]
    if isinstance(k, Exception):
        # Still one document per target: every case says why it did not run.
        name = f"{label}__{device}{libs.tag(lib_id)}"
        res = {c["id"]: vm_result(c, "no-result", f"kernel fetch failed: {k}", "fetch", 0, "") for c in cases}
        doc = document(cases, res, None, {"kernel": {"series": label}, "device": device}, time.time(), argv)
        write_new(out / f"{name}.json", doc)
        return name, doc
    boot = boot_path_for(k.abi, a.boot, p.cache)
    if boot.image == "pvh" and k.vmlinux() is None:
        boot = qemu.BootPath("bzimage", boot.firmware)
    name = stem(k, device) + libs.tag(lib_id)
    # One guest per target: the rows with a device fault run in it after the others, each part
    # against a disk of its own (vm/devfaults.py); the run-wide --device-fault rule instead goes
    # on the first disk of a guest that runs everything.
    parts = () if p.faults else tuple(devfaults.parts(cases)[1])
    o = Options(harness=inp.harness, cases_dir=inp.cases_dir, cache=p.cache, out=out,
                accel=inp.accel, boot=boot, fs=a.fs, case_timeout=a.timeout,
                boot_timeout=a.boot_timeout, idle_timeout=a.idle_timeout,
                memory_mb=a.memory, cpus=a.cpus, harness_args=inp.harness_args, argv=tuple(argv),
                inject_panic_after=a.inject_panic_after, device_faults=tuple(p.faults), fault_parts=parts,
                tag=libs.tag(lib_id), allow_panic=a.test_allow_panic, lib_id=lib_id, lib_dir=lib_dir,
                on_light=slot.release if slot else None, on_boot=slot.take if slot else None)
    doc = run_target(k, device, cases, o, progress)
    if lib_id:
        libs.label(doc, lib_id, lib_dir)
    write_new(out / f"{name}.json", doc)
    return name, doc


def refuse_existing(p: Plan, kernels: dict, out: Path) -> str:
    """A report is never overwritten: the first target whose result file exists, else ""."""
    for label, device, (lib_id, _) in p.runs:
        k = kernels[label]
        dest = out / f"{stem(k, device)}{libs.tag(lib_id)}.json" if not isinstance(k, Exception) else None
        if dest is not None and dest.exists():
            return f"{dest} exists; a result is never overwritten (choose another --out)"
    return ""


def write_once(path: Path, data) -> None:
    try:
        with open(path, "x") as f:
            f.write(json.dumps(data, indent=2) + "\n")
    except FileExistsError:
        print(f"matrix: {path} exists; not overwritten", file=sys.stderr)


def report(p: Plan, out: Path, rows: list[tuple[str, dict]]) -> int:
    """Summary table, summary and coverage files; the exit status of the run."""
    i, n = p.shard
    print(summary_table([(name, doc["summary"]) for name, doc in rows]))
    write_once(out / f"matrix-summary.shard{i}of{n}.json", {name: doc["summary"] for name, doc in rows})
    where = coverage(dict(rows))
    write_once(out / f"matrix-coverage.shard{i}of{n}.json", where)
    nowhere = [cid for cid, targets in where.items() if not targets]
    if nowhere and n == 1:
        print(f"matrix: {len(nowhere)} case(s) executed in no guest (skipped or lost everywhere), e.g.:",
              file=sys.stderr)
        for cid in nowhere[:20]:
            print(f"  {cid}", file=sys.stderr)
    elif nowhere:
        print(f"matrix: {len(nowhere)} case(s) executed in no guest of this shard "
              f"(see matrix-coverage.shard{i}of{n}.json; other shards may run them)", file=sys.stderr)
    bad = any("total" not in s or s.get("total") == 0 or any(s.get(v) for v in V.FAILS_RUN)
              for s in (doc["summary"] for _, doc in rows))
    return 1 if bad or (nowhere and n == 1) else 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = plan(argv)
    if isinstance(p, int):
        return p
    a = p.a
    if a.list_targets:
        for k, d, (lib_id, _) in p.runs:
            print(f"{k} {d}" + (f" {lib_id}" if lib_id else ""))
        return 0
    harness = find_harness(a.harness)
    if harness is None:
        return usage("no harness binary: build it (./scripts/build) or set AIOH_HARNESS")
    if not a.no_install:
        deps.ensure(log=lambda s: print(f"matrix: {s}", file=sys.stderr))
    out = Path(a.out or REPO / "results" / time.strftime("matrix-%Y%m%dT%H%M%SZ", time.gmtime()))
    out.mkdir(parents=True, exist_ok=True)
    # Every guest must run the binary and tables that --list saw, even if the tree changes
    # while the matrix runs (a rebuild, a new table): snapshot both once.
    harness, cases_dir = snapshot_inputs(harness, Path(a.cases), out / "work" / "inputs")
    try:
        cases = list_cases(harness, cases_dir, a.interface, a.filter)
        devfaults.groups(cases)
    except (RuntimeError, ValueError) as e:
        return usage(str(e))
    harness_args, note = guest_harness_args(harness, a.guest_jobs)
    if note:
        print(f"matrix: {note}", file=sys.stderr)
    accel, why = qemu.choose_accel(a.accel)
    i, n = p.shard
    print(f"matrix: {len(cases)} cases x {len(p.mine)} targets (shard {i}/{n}); accel {accel}"
          f"{f' ({why})' if why and accel == 'tcg' else ''}; guest harness "
          f"{' '.join(harness_args) or ('-j1' if note or not harness_supports(harness, '--jobs') else '--jobs auto')}"
          f"; out {out}", file=sys.stderr)
    progress = Progress()
    kernels = fetch_kernels(p, progress, len(cases))
    progress.expected = len(cases) * len(p.runs)
    if err := refuse_existing(p, kernels, out):
        return usage(err)
    inp = Inputs(harness, cases_dir, cases, accel, harness_args, out)
    # Twice the threads of --jobs: a guest in its alone or fault parts holds a thread, not a slot.
    slots = Slots(a.jobs)
    with ThreadPoolExecutor(max_workers=2 * max(1, a.jobs)) as pool:
        futures = {j: pool.submit(run_one, p, inp, kernels, p.runs[j], progress, slots) for j in start_order(p.runs)}
        rows = [futures[j].result() for j in range(len(p.runs))]
    return report(p, out, rows)


def start_order(runs: list) -> list[int]:
    """Indexes of `runs`, newest kernel first: a newer kernel executes more of the catalog (fewer
    rows skip for a missing feature), so its guest is the longest, and a longest guest started
    last is the matrix's tail (a 7.3 guest started after four others held the bench's wall ~1 min
    past its last 5.10 guest).  Reports keep the order of `runs`."""
    return sorted(range(len(runs)), key=lambda j: catalog.version_key(runs[j][0]), reverse=True)
