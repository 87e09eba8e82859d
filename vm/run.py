"""One kernel x device: boot, set up, run, collect; reboot and resume after a panic or hang.

Each boot gets the ids not yet finished.  When a boot ends without the guest's exit record, the
case the harness had begun (it marks each case in /dev/kmsg, which the guest echoes on the
console) is the case the kernel died in: it gets the VM verdict and the next boot runs the rest.
Finished results are always kept.
"""
from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import devfaults, initramfs, libs, phases, qemu
from .kernel import Kernel
from .results import Stream, document, vm_result

GUEST_DISK_BYTES = 2 << 30


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
    device_faults: tuple[qemu.DeviceFault, ...] = ()
    # The row rules those disk rules implement (AIOH_DEVICE_FAULT in the guest), and a suffix
    # that keeps this guest's files apart from the ordinary guest of the same target.
    armed: tuple[str, ...] = ()
    tag: str = ""
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


def stem(kernel: Kernel, device: str) -> str:
    return f"{kernel.abi}__{device}"


def run_target(kernel: Kernel, device: str, cases: list[dict], o: Options,
               progress=lambda **kw: None) -> dict:
    started = time.time()
    label = stem(kernel, device) + o.tag
    workdir = o.out / "work" / label
    workdir.mkdir(parents=True, exist_ok=True)
    progress(target=label, phase="build-guest", done=0, total=len(cases))
    guest_cases = initramfs.CASES_IN_GUEST
    base = initramfs.cached_image(o.cache, o.harness, o.cases_dir, kernel.moddir, kernel.abi,
                                  guest_cases)
    image = kernel.vmlinux() if o.boot.image == "pvh" else kernel.bzimage
    results: dict[str, dict] = {}
    environment = None
    guest_runs: list[dict] = []
    boots: list[BootRecord] = []
    remaining = [c for c in cases]
    boot_failures = 0
    while remaining and len(boots) < o.max_boots:
        n = len(boots) + 1
        con = o.out / f"{label}.console{'' if n == 1 else f'.{n}'}.log"
        res = workdir / f"result.{n}.jsonl"
        for f in (con, res):
            f.unlink(missing_ok=True)
        disk = workdir / "disk.img"
        disk.unlink(missing_ok=True)
        with open(disk, "wb") as f:
            f.truncate(GUEST_DISK_BYTES)
        env = {"DISK": qemu.GUEST_DISK[qemu.DEVICES[device][0]], "FS": o.fs,
               "HARNESS": initramfs.HARNESS_IN_GUEST, "BOOT": str(n),
               "HARNESS_ARGS": " ".join(["--cases", initramfs.CASES_IN_GUEST] + list(o.harness_args) + (
                   ["--timeout", str(o.case_timeout)] if o.case_timeout else []))}
        env.update(devfaults.guest_env(o.armed, list(o.device_faults), env["DISK"]))
        if o.allow_panic:
            env["AIOH_ALLOW_PANIC"] = "1"
        env.update(libs.guest_env(o.lib_id))
        blkdebug = None
        errors = [f for f in o.device_faults if isinstance(f, qemu.DeviceFault)]
        if errors:
            blkdebug = workdir / "blkdebug.conf"
            blkdebug.write_text(qemu.blkdebug_config(errors))
        throttle = next((f.iops for f in o.device_faults if isinstance(f, qemu.Throttle)), None)
        job = initramfs.job_archive(env, [c["id"] for c in remaining])
        if o.lib_id and o.lib_dir:
            job += libs.archive(o.lib_dir, o.lib_id)
        initrd = initramfs.boot_initrd(base, job, workdir / "initrd")
        cfg = qemu.VmConfig(kernel=image, initrd=initrd, console_log=con, result_file=res,
                            disk=disk, device=device, boot=o.boot, accel=o.accel,
                            memory_mb=o.memory_mb, cpus=o.cpus, blkdebug=blkdebug, throttle_iops=throttle,
                            monitor=workdir / "monitor.sock" if o.inject_panic_after is not None else None,
                            cmdline_extra=("unknown_nmi_panic",) if o.inject_panic_after is not None else ())
        injected = n > 1
        stream, timed_out, t0, setup_at = Stream(), False, time.time(), None
        progress(target=label, phase="boot", done=len(results), total=len(cases), boot=n)
        proc = subprocess.Popen(qemu.vm_argv(cfg), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=open(workdir / f"qemu.{n}.err", "w"))
        last_progress, pos, exit_seen_at = time.time(), 0, None
        try:
            while proc.poll() is None:
                time.sleep(0.25)
                if res.exists():
                    with open(res, "rb") as f:
                        f.seek(pos)
                        chunk = f.read()
                    pos += len(chunk)
                    before = (len(stream.results), stream.phase)
                    stream.feed(chunk)
                    if (len(stream.results), stream.phase) != before:
                        last_progress = time.time()
                        if stream.phase in ("setup", "run") and setup_at is None:
                            setup_at = time.time() - t0
                        done = len(results) + len(set(stream.results) - set(results))
                        progress(target=label, phase=stream.phase, done=done, total=len(cases), boot=n)
                now = time.time()
                if (not injected and o.inject_panic_after is not None
                        and len(stream.results) >= o.inject_panic_after):
                    injected = True
                    qemu.hmp(cfg.monitor, "nmi")
                if stream.exit_rc is not None:
                    exit_seen_at = exit_seen_at or now
                    if now - exit_seen_at > 10:       # poweroff did not end QEMU: end it
                        break
                elif setup_at is None and now - t0 > o.boot_timeout:
                    timed_out = True
                    break
                elif setup_at is not None and now - last_progress > o.idle_timeout:
                    timed_out = True
                    break
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        if res.exists():
            with open(res, "rb") as f:
                f.seek(pos)
                stream.feed(f.read() + b"\n")
        console = con.read_text(errors="replace") if con.exists() else ""
        qerr = (workdir / f"qemu.{n}.err").read_text(errors="replace")
        ending = phases.classify(console, finished=stream.exit_rc is not None, timed_out=timed_out,
                                 qemu_err=qerr)
        if stream.setup_failed and ending.verdict is None:
            ending = phases.Ending("no-result", "setup", stream.setup_failed, phases.excerpt(console))
        environment = environment or stream.environment
        if stream.guest_run:
            guest_runs.append(dict(stream.guest_run, boot=n))
        results.update(stream.results)
        before = len(remaining)
        remaining = [c for c in remaining if c["id"] not in results]
        boots.append(BootRecord(n, ending, time.time() - t0, setup_at, before, before - len(remaining)))
        if ending.verdict is None:
            # The harness exited: an id it did not report was never run (say so, do not retry).
            said = [ln for ln in console.splitlines() if ln.startswith("harness:")]
            why = f"harness exited rc={stream.exit_rc} without a result for it" + (
                f" ({said[-1]})" if said else "")
            for c in remaining:
                results[c["id"]] = vm_result(c, "no-result", why, "run", n,
                                             phases.excerpt(console, lines=15))
            remaining = []
        elif ending.phase in ("boot", "setup") and before == len(remaining):
            boot_failures += 1
            if o.boot.image == "pvh" and ending.phase == "boot" and ending.verdict != "kernel-panic":
                # Not every kernel has a PVH entry: fall back to the bzImage on the same firmware.
                o.boot = qemu.BootPath("bzimage", o.boot.firmware)
                image = kernel.bzimage
                boot_failures -= 1
            elif boot_failures >= 2:   # the same kernel failing twice to come up: give up on it
                for c in remaining:
                    results[c["id"]] = vm_result(c, ending.verdict, ending.reason, ending.phase, n,
                                                 ending.excerpt)
                remaining = []
        elif remaining:
            # The case the harness had begun (its kmsg mark) is the one the kernel died in.  With
            # no open mark the guest died between cases: reboot without blaming one, unless this
            # boot finished nothing (then the first id takes the verdict, so every boot progresses).
            named = phases.running_case(console)
            at = next((i for i, c in enumerate(remaining) if c["id"] == named),
                      0 if before == len(remaining) else None)
            if at is not None:
                culprit = remaining.pop(at)
                results[culprit["id"]] = vm_result(culprit, ending.verdict, ending.reason,
                                                   ending.phase, n, ending.excerpt)
        progress(target=label, phase="collect", done=len(results), total=len(cases), boot=n,
                 ending=ending.verdict)
    for f in ("disk.img", "initrd"):   # large and rebuilt per boot; the raw port logs stay
        (workdir / f).unlink(missing_ok=True)
    for c in remaining:   # boot budget exhausted
        results[c["id"]] = vm_result(c, "no-result", f"not run: {o.max_boots} boots used", "boot",
                                     len(boots), "")
    vm = {"kernel": kernel.to_json(), "device": device, "device_spec": dict(zip(
              ("driver", "logical_block_size"), qemu.DEVICES[device])),
          "console_logs": [f"{label}.console{'' if b.boot == 1 else f'.{b.boot}'}.log" for b in boots],
          "qemu": qemu.qemu_version(), "accel": o.accel, "boot_path": o.boot.name,
          "fs": "tmpfs" if o.armed else o.fs,
          "memory_mb": o.memory_mb, "cpus": o.cpus,
          "device_faults": [dict(f.__dict__, rule=f.text()) for f in o.device_faults],
          "nvme_core_params": devfaults.guest_env(o.armed, list(o.device_faults), "").get("MODPARAMS_nvme_core"),
          "boots": [{"boot": b.boot, "ending": b.ending.verdict or "finished", "phase": b.ending.phase,
                     "reason": b.ending.reason, "seconds": round(b.seconds, 1),
                     "boot_seconds": round(b.setup_at, 1) if b.setup_at else None,
                     "ids": b.ids, "finished": b.finished} for b in boots]}
    return document(cases, results, environment, vm, started, list(o.argv), guest_runs)
