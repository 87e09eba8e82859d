"""One kernel x device: boot, set up, run, collect; reboot and resume after a panic or hang.

Each boot gets the ids not yet finished.  When a boot ends without the guest's exit record, the
case the harness had begun (it marks each case in /dev/kmsg, which the guest echoes on the
console) is the case the kernel died in: it gets the VM verdict and the next boot runs the rest.
Finished results are always kept.

A guest has, besides its scratch disk, one disk per sweep target of the same geometry
(TARGET_DISKS): the harness in the guest uses the first raw and makes ext4, xfs and btrfs on the
others (AIOH_GUEST_DISKS, harness/targets/target.h); these carry the orchestrator's label at
offset 0, which the harness checks before it writes.  After them comes one raw disk per
device-fault part (vm/devfaults.py), behind blkdebug with the part's rules or throttled: the
guest runs the ordinary rows first, then the rows that run alone (resource class `exclusive`:
null_blk/dm/scsi_debug devices, BPF-LSM programs, sysctls; mostly waiting) in a part of their own
(ALONE_PART), then each fault part against its disk, all in one boot.  From the alone part on the
guest is light, so scripts/matrix boots the next guest meanwhile (Options.on_light) instead of
letting the host's cores idle while these rows wait.  Every disk image is made anew for each boot.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import devfaults, initramfs, libs, phases, qemu
from .kernel import Kernel
from .results import Stream, document, vm_result

GUEST_DISK_BYTES = 2 << 30
# The sweep's disks after the scratch disk, in guest order: (what the harness makes of it, size).
# mkfs.xfs wants at least 300 MiB; the images are sparse.
TARGET_DISKS = (("raw", 256 << 20), ("ext4", 512 << 20), ("xfs", 512 << 20), ("btrfs", 512 << 20))
# harness/targets/target.h kGuestDiskLabel: the harness writes a guest disk only if it begins so.
GUEST_DISK_LABEL = b"AIOHARNESS-GUEST-SCRATCH-DISK\n"
EXIT_GRACE = 10.0          # seconds QEMU may take to power off after the guest's exit record
ALONE_PART = "alone"       # the part of the rows whose resource class is exclusive (guest/init.sh)


@dataclass
class Options:
    harness: Path
    cases_dir: Path
    cache: Path
    out: Path
    accel: str = "tcg"
    boot: qemu.BootPath = field(default_factory=qemu.BootPath)
    fs: str = "ext4"
    case_timeout: int | None = None      # passed to the harness as --timeout
    boot_timeout: float = 240.0          # boot + setup, under TCG on a busy host
    idle_timeout: float = 300.0          # no new result for this long: the guest hangs
    max_boots: int = 25
    memory_mb: int = 2048
    cpus: int = 2
    harness_args: tuple[str, ...] = ()
    argv: tuple[str, ...] = ()
    # Test-only: on the first boot, after this many results, inject an NMI with
    # unknown_nmi_panic set, so the kernel really panics mid-run and the resume path runs.
    inject_panic_after: int | None = None
    # A run-wide rule on the first disk (scripts/matrix --device-fault): that guest has no sweep
    # or fault-part disks.
    device_faults: tuple[qemu.DeviceFault, ...] = ()
    # The device-fault rows' parts (vm/devfaults.py): each a disk after the target disks and a
    # harness run after the catalog's.
    fault_parts: tuple[devfaults.FaultPart, ...] = ()
    tag: str = ""                        # file-name suffix (a library build's id)
    # Called once when only the alone and fault parts are left (light: one case at a time,
    # device delays, throttle and ratelimit waits), so that scripts/matrix can boot the next
    # guest meanwhile.
    on_light: Callable[[], None] | None = None
    # Called before every boot after the first: a guest that gave its place up in on_light and
    # then panicked (or hung) reboots into a boot that may run its catalog again, so it takes a
    # place back first (waiting for one) and boots within scripts/matrix --jobs.
    on_boot: Callable[[], None] | None = None
    allow_panic: bool = False            # test-only: the guest may run the sysrq panic row
    # A library build swapped in (scripts/matrix --libs, vm/libs.py): its id and host directory.
    lib_id: str = ""
    lib_dir: Path | None = None


@dataclass
class BootRecord:
    boot: int
    ending: phases.Ending
    seconds: float
    setup_at: float | None
    ids: int
    finished: int
    parts: dict = field(default_factory=dict)    # Stream.parts: each part's ids and guest uptimes


def stem(kernel: Kernel, device: str) -> str:
    return f"{kernel.abi}__{device}"


def guest_disks_spec(device: str) -> str:
    """AIOH_GUEST_DISKS for a guest of this geometry: what each target disk is, by guest name."""
    return ",".join(f"{what}=/dev/{qemu.guest_disk(device, i)}"
                    for i, (what, _) in enumerate(TARGET_DISKS, start=1))


def make_disk(path: Path, size: int, label: bool) -> Path:
    path.unlink(missing_ok=True)
    with open(path, "wb") as f:
        f.truncate(size)
        if label:
            f.write(GUEST_DISK_LABEL)
    return path


def console_name(label: str, n: int) -> str:
    return f"{label}.console{'' if n == 1 else f'.{n}'}.log"


class TargetRun:
    """The state of one kernel x device across its boots (run_target drives it)."""

    def __init__(self, kernel: Kernel, device: str, cases: list[dict], o: Options, progress):
        self.kernel, self.device, self.cases, self.o, self.progress = kernel, device, cases, o, progress
        self.label = stem(kernel, device) + o.tag
        self.workdir = o.out / "work" / self.label
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.image = kernel.vmlinux() if o.boot.image == "pvh" else kernel.bzimage
        self.results: dict[str, dict] = {}
        self.environment: dict | None = None
        self.part_envs: dict[str, dict] = {}
        self._runtime: Path | None = None
        self.guest_runs: list[dict] = []
        self.boots: list[BootRecord] = []
        self.remaining = list(cases)
        self.boot_failures = 0

    def say(self, phase: str, done: int, **kw) -> None:
        self.progress(target=self.label, phase=phase, done=done, total=len(self.cases), **kw)

    # ---- one boot: what goes in ----------------------------------------------------------

    def has_target_disks(self) -> bool:
        return not self.o.device_faults

    def part_disk(self, k: int) -> str:
        """The guest's name for fault part k's disk (1-based): after the sweep's target disks."""
        return qemu.guest_disk(self.device, len(TARGET_DISKS) + k)

    def job_ids(self) -> tuple[list[str], list[str], dict[int, list[str]]]:
        """The ids this boot still has: the catalog's, the alone part's (the listing's resource
        class `exclusive`: each runs with nothing else in flight wherever it runs, so it costs the
        catalog's overlap nothing to run them after it), and each fault part's that has any."""
        owner = {i: k for k, f in enumerate(self.o.fault_parts, start=1) for i in f.ids}
        catalog: list[str] = []
        alone: list[str] = []
        parts: dict[int, list[str]] = {}
        for c in self.remaining:
            i = c["id"]
            if i in owner:
                parts.setdefault(owner[i], []).append(i)
            elif (c.get("resources") or {}).get("class") == "exclusive":
                alone.append(i)
            else:
                catalog.append(i)
        return catalog, alone, dict(sorted(parts.items()))

    def job_archive(self, n: int) -> bytes:
        """Boot n's /job: its environment, the catalog's ids, the alone part's, each fault part's."""
        ids, alone, parts = self.job_ids()
        more = {f"{ALONE_PART}.ids": alone, **{f"fault.{k}.ids": v for k, v in parts.items()}}
        return initramfs.job_archive(self.guest_env(n), ids, more)

    def guest_env(self, n: int) -> dict[str, str]:
        o = self.o
        args = ["--cases", initramfs.CASES_IN_GUEST, *o.harness_args]
        if o.case_timeout:
            args += ["--timeout", str(o.case_timeout)]
        env = {"DISK": qemu.guest_disk(self.device, 0), "FS": o.fs, "HARNESS": initramfs.HARNESS_IN_GUEST,
               "BOOT": str(n), "HARNESS_ARGS": " ".join(args),
               # The sweep's targets: the same names in every guest, so --list on the host and
               # --ids in the guest agree; a guest with a run-wide --device-fault has no such disks.
               "AIOH_GUEST_DISKS": guest_disks_spec(self.device)}
        if self.has_target_disks():
            env["TARGET_DISKS"] = "1"
        env.update(devfaults.guest_env(list(o.device_faults), env["DISK"]))
        _, _, parts = self.job_ids()
        if self.has_target_disks() and o.fault_parts:
            env["FAULT_DISKS"] = " ".join(self.part_disk(k) for k in range(1, len(o.fault_parts) + 1))
            env["FAULT_PARTS"] = " ".join(str(k) for k in parts)
            env["LOG_WINDOW"], env["LOG_BURST"] = str(devfaults.LOG_WINDOW), str(devfaults.REPORTS)
            for k in parts:
                env.update(devfaults.part_env(k, o.fault_parts[k - 1], self.part_disk(k)))
        if o.allow_panic:
            env["AIOH_ALLOW_PANIC"] = "1"
        env.update(libs.guest_env(o.lib_id))
        return env

    def disks(self) -> tuple[Path, tuple[Path | qemu.Disk, ...]]:
        """The scratch (or faulty) disk and, unless it is faulty, the sweep's target disks and a
        raw disk per fault part, behind blkdebug with its rules or throttled."""
        first = make_disk(self.workdir / "disk.img", GUEST_DISK_BYTES, label=False)
        if not self.has_target_disks():
            return first, ()
        extra: list[Path | qemu.Disk] = [make_disk(self.workdir / f"target-{what}.img", size, label=True)
                                         for what, size in TARGET_DISKS]
        for k, f in enumerate(self.o.fault_parts, start=1):
            errors = [r for r in f.rules if isinstance(r, qemu.DeviceFault)]
            conf = None
            if errors:
                conf = self.workdir / f"blkdebug.{k}.conf"
                conf.write_text(qemu.blkdebug_config(errors))
            iops = next((r.iops for r in f.rules if isinstance(r, qemu.Throttle)), None)
            extra.append(qemu.Disk(make_disk(self.workdir / f"fault-{k}.img", GUEST_DISK_BYTES, label=False),
                                   blkdebug=conf, throttle_iops=iops))
        return first, tuple(extra)

    def vm_config(self, n: int, con: Path, res: Path) -> qemu.VmConfig:
        o = self.o
        blkdebug = None
        errors = [f for f in o.device_faults if isinstance(f, qemu.DeviceFault)]
        if errors:
            blkdebug = self.workdir / "blkdebug.conf"
            blkdebug.write_text(qemu.blkdebug_config(errors))
        throttle = next((f.iops for f in o.device_faults if isinstance(f, qemu.Throttle)), None)
        job = self.job_archive(n)
        if o.lib_id and o.lib_dir:
            job += libs.archive(o.lib_dir, o.lib_id)
        initrd = initramfs.boot_initrd(self.base, job, self.workdir / "initrd")
        disk, extra = self.disks()
        panic = o.inject_panic_after is not None
        return qemu.VmConfig(kernel=self.image, initrd=initrd, console_log=con, result_file=res,
                             disk=disk, device=self.device, extra_disks=extra, boot=o.boot, accel=o.accel,
                             memory_mb=o.memory_mb, cpus=o.cpus, blkdebug=blkdebug, throttle_iops=throttle,
                             monitor=self.runtime() / "monitor.sock" if panic else None,
                             cmdline_extra=("unknown_nmi_panic",) if panic else ())

    def runtime(self) -> Path:
        """A short directory for QEMU's sockets (the monitor): a socket path has at most 107
        bytes (sun_path), which one under a deep --out (a pytest tmp_path) exceeds."""
        if self._runtime is None:
            self._runtime = Path(tempfile.mkdtemp(prefix="aioh-vm-", dir="/tmp"))
        return self._runtime

    # ---- one boot: watching it -----------------------------------------------------------

    def watch(self, proc: subprocess.Popen, cfg: qemu.VmConfig, n: int, stream: Stream,
              t0: float) -> tuple[bool, float | None, int]:
        """Follow the result file until QEMU ends, the guest has said it exited, or a deadline
        passes; returns (timed out, seconds to setup, bytes read)."""
        o, res = self.o, cfg.result_file
        injected = n > 1
        # The test-only NMI. Guests sometimes saw none (no "NMI" line at all): qemu.hmp hung up
        # before QEMU had read the command, fixed there. It is still sent again every 2 s (at
        # most 5 times) while the boot runs on: that cause is inferred, not observed.
        nmis, last_nmi = 0, 0.0
        last_progress, pos, exit_seen_at, setup_at = time.time(), 0, None, None
        while proc.poll() is None:
            time.sleep(0.25)
            pos, moved = self.read_results(res, pos, stream)
            if moved:
                last_progress = time.time()
                if stream.phase in ("setup", "run") and setup_at is None:
                    setup_at = time.time() - t0
                if (stream.part == ALONE_PART or stream.part.startswith("fault.")) and o.on_light:
                    o.on_light()
                done = len(self.results) + len(set(stream.results) - set(self.results))
                self.say(part_label(stream.part, len(o.fault_parts)) if stream.phase == "run" else stream.phase,
                         done, boot=n)
            now = time.time()
            if not injected and o.inject_panic_after is not None and len(stream.results) >= o.inject_panic_after \
                    and stream.exit_rc is None and now - last_nmi >= 2.0:
                nmis, last_nmi = nmis + 1, now
                injected = nmis >= 5
                try:
                    qemu.hmp(cfg.monitor, "nmi")
                except OSError:       # QEMU is ending (the guest panicked on the last one)
                    injected = True
            if stream.exit_rc is not None:
                exit_seen_at = exit_seen_at or now
                if now - exit_seen_at > EXIT_GRACE:       # poweroff did not end QEMU: end it
                    return False, setup_at, pos
            elif setup_at is None and now - t0 > o.boot_timeout:
                return True, setup_at, pos
            elif setup_at is not None and now - last_progress > o.idle_timeout:
                return True, setup_at, pos
        return False, setup_at, pos

    @staticmethod
    def read_results(res: Path, pos: int, stream: Stream) -> tuple[int, bool]:
        """Feed what the guest appended since `pos`; whether a result or the phase changed."""
        if not res.exists():
            return pos, False
        with open(res, "rb") as f:
            f.seek(pos)
            chunk = f.read()
        before = (len(stream.results), stream.phase)
        stream.feed(chunk)
        return pos + len(chunk), (len(stream.results), stream.phase) != before

    def boot_once(self, n: int) -> tuple[phases.Ending, Stream, float, float | None]:
        con = self.o.out / console_name(self.label, n)
        res = self.workdir / f"result.{n}.jsonl"
        for f in (con, res):
            f.unlink(missing_ok=True)
        if n > 1 and self.o.on_boot:
            self.o.on_boot()
        cfg = self.vm_config(n, con, res)
        stream, t0 = Stream(), time.time()
        self.say("boot", len(self.results), boot=n)
        qerr_path = self.workdir / f"qemu.{n}.err"
        with open(qerr_path, "w") as qerr:
            proc = subprocess.Popen(qemu.vm_argv(cfg), stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=qerr)
        try:
            timed_out, setup_at, pos = self.watch(proc, cfg, n, stream, t0)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        if res.exists():
            with open(res, "rb") as f:
                f.seek(pos)
                stream.feed(f.read() + b"\n")
        console = con.read_text(errors="replace") if con.exists() else ""
        ending = phases.classify(console, finished=stream.exit_rc is not None, timed_out=timed_out,
                                 qemu_err=qerr_path.read_text(errors="replace"))
        if stream.setup_failed and ending.verdict is None:
            ending = phases.Ending("no-result", "setup", stream.setup_failed, phases.excerpt(console))
        return ending, stream, t0, setup_at

    # ---- one boot: what comes out ----------------------------------------------------------

    def account(self, n: int, ending: phases.Ending, stream: Stream, console: str) -> int:
        """Take the boot's results and decide the fate of the ids it did not finish; returns
        how many ids the boot had."""
        self.environment = self.environment or stream.environment
        for part, env in stream.environments.items():
            self.part_envs.setdefault(part, env)
        self.guest_runs += [dict(g, boot=n) for g in stream.guest_runs]
        self.results.update(stream.results)
        before = len(self.remaining)
        self.remaining = [c for c in self.remaining if c["id"] not in self.results]
        if ending.verdict is None:
            self.harness_exited(n, stream, console)
        elif ending.phase in ("boot", "setup") and before == len(self.remaining):
            self.failed_to_come_up(n, ending)
        elif self.remaining:
            self.blame_running_case(n, ending, console, before)
        return before

    def harness_exited(self, n: int, stream: Stream, console: str) -> None:
        """The harness exited: an id it did not report was never run (say so, do not retry)."""
        said = [ln for ln in console.splitlines() if ln.startswith("harness:")]
        why = f"harness exited rc={stream.exit_rc} without a result for it" + (f" ({said[-1]})" if said else "")
        for c in self.remaining:
            self.results[c["id"]] = vm_result(c, "no-result", why, "run", n, phases.excerpt(console, lines=15))
        self.remaining = []

    def failed_to_come_up(self, n: int, ending: phases.Ending) -> None:
        self.boot_failures += 1
        o = self.o
        if o.boot.image == "pvh" and ending.phase == "boot" and ending.verdict != "kernel-panic":
            # Not every kernel has a PVH entry: fall back to the bzImage on the same firmware.
            o.boot = qemu.BootPath("bzimage", o.boot.firmware)
            self.image = self.kernel.bzimage
            self.boot_failures -= 1
        elif self.boot_failures >= 2:   # the same kernel failing twice to come up: give up on it
            for c in self.remaining:
                self.results[c["id"]] = vm_result(c, ending.verdict, ending.reason, ending.phase, n, ending.excerpt)
            self.remaining = []

    def blame_running_case(self, n: int, ending: phases.Ending, console: str, before: int) -> None:
        """The case the harness had begun (its kmsg mark) is the one the kernel died in.  With no
        open mark the guest died between cases: reboot without blaming one, unless this boot
        finished nothing (then the first id takes the verdict, so every boot progresses)."""
        named = phases.running_case(console)
        at = next((i for i, c in enumerate(self.remaining) if c["id"] == named),
                  0 if before == len(self.remaining) else None)
        if at is not None:
            culprit = self.remaining.pop(at)
            self.results[culprit["id"]] = vm_result(culprit, ending.verdict, ending.reason, ending.phase, n,
                                                    ending.excerpt)

    def run(self) -> None:
        self.say("build-guest", 0)
        o = self.o
        self.base = initramfs.cached_image(o.cache, o.harness, o.cases_dir, self.kernel.moddir, self.kernel.abi,
                                           initramfs.CASES_IN_GUEST)
        try:
            while self.remaining and len(self.boots) < self.o.max_boots:
                n = len(self.boots) + 1
                ending, stream, t0, setup_at = self.boot_once(n)
                con = self.o.out / console_name(self.label, n)
                console = con.read_text(errors="replace") if con.exists() else ""
                before = self.account(n, ending, stream, console)
                self.boots.append(BootRecord(n, ending, time.time() - t0, setup_at, before,
                                             before - len(self.remaining), stream.parts))
                self.say("collect", len(self.results), boot=n, ending=ending.verdict)
        finally:
            if self._runtime:
                shutil.rmtree(self._runtime, ignore_errors=True)
        for f in ["disk.img", "initrd", *(f"target-{w}.img" for w, _ in TARGET_DISKS),
                  *(f"fault-{k}.img" for k in range(1, len(self.o.fault_parts) + 1))]:
            (self.workdir / f).unlink(missing_ok=True)   # large and rebuilt per boot; the logs stay
        for c in self.remaining:   # boot budget exhausted
            self.results[c["id"]] = vm_result(c, "no-result", f"not run: {self.o.max_boots} boots used", "boot",
                                              len(self.boots), "")

    def vm_record(self) -> dict:
        """environment.vm: what the guest was and how each of its boots ended."""
        o = self.o
        return {"kernel": self.kernel.to_json(), "device": self.device,
                "device_spec": qemu.DEVICES[self.device].to_json(),
                "target_disks": [] if not self.has_target_disks() else
                [{"disk": qemu.guest_disk(self.device, i), "as": what, "bytes": size}
                 for i, (what, size) in enumerate(TARGET_DISKS, start=1)],
                "console_logs": [console_name(self.label, b.boot) for b in self.boots],
                "qemu": qemu.qemu_version(), "accel": o.accel, "boot_path": o.boot.name,
                "fs": o.fs, "memory_mb": o.memory_mb, "cpus": o.cpus,
                "harness_args": list(o.harness_args),
                "device_faults": [dict(f.__dict__, rule=f.text()) for f in o.device_faults],
                "nvme_core_params": devfaults.guest_env(list(o.device_faults), "").get("MODPARAMS_nvme_core"),
                "device_fault_parts": [devfaults.part_record(f, self.part_disk(k), self.part_envs.get(f"fault.{k}"))
                                       for k, f in enumerate(o.fault_parts, start=1)],
                "boots": [{"boot": b.boot, "ending": b.ending.verdict or "finished", "phase": b.ending.phase,
                           "reason": b.ending.reason, "seconds": round(b.seconds, 1),
                           "boot_seconds": round(b.setup_at, 1) if b.setup_at else None,
                           "ids": b.ids, "finished": b.finished, "parts": part_times(b.parts)}
                          for b in self.boots]}


def part_label(part: str, parts: int) -> str:
    """How the progress line names a part: `run` for the catalog, `alone` for the rows that run
    alone, `fault k/n` for a fault part."""
    if part == ALONE_PART:
        return part
    return f"fault {part.split('.', 1)[1]}/{parts}" if part.startswith("fault.") else "run"


def part_times(parts: dict) -> list[dict]:
    """A boot's parts in the order they ran: ids, guest uptime at start and end, harness rc."""
    return [{"part": name, "ids": p.get("ids"), "start": p.get("start"), "end": p.get("end"), "rc": p.get("rc")}
            for name, p in parts.items()]


def run_target(kernel: Kernel, device: str, cases: list[dict], o: Options,
               progress=lambda **kw: None) -> dict:
    started = time.time()
    t = TargetRun(kernel, device, cases, o, progress)
    t.run()
    return document(cases, t.results, t.environment, t.vm_record(), started, list(o.argv), t.guest_runs)
