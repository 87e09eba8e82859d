"""One target's guest without booting: it gets the sweep's labelled target disks and is told
about them, then one raw disk per device-fault part (behind blkdebug with the part's rules, or
throttled) with the part's ids, rules and disk in its job; a guest with a run-wide
--device-fault keeps its one raw disk; all name the same targets."""
from pathlib import Path

from vm import devfaults, initramfs, qemu, run
from vm.kernel import Kernel

READ = {"layer": "vm", "target": "blkdebug:read_aio@2621440", "effect": "EIO", "trigger": "once"}
SLOW = {"layer": "vm", "target": "throttle:iops=2", "effect": "latency", "trigger": "always"}


def target(tmp_path: Path, cases=({"id": "a"},), **kw) -> run.TargetRun:
    k = Kernel("linux-image-x", "1", "6.12.0-x", tmp_path / "bzImage", None, tmp_path)
    o = run.Options(harness=tmp_path / "harness", cases_dir=tmp_path, cache=tmp_path, out=tmp_path, **kw)
    return run.TargetRun(k, "nvme-4k", list(cases), o, lambda **_: None)


def test_ordinary_guest_has_labelled_target_disks(tmp_path: Path):
    t = target(tmp_path)
    first, extra = t.disks()
    head = lambda p: p.open("rb").read(64)
    assert first.stat().st_size == run.GUEST_DISK_BYTES and not head(first).strip(b"\0")
    assert [p.name for p in extra] == ["target-raw.img", "target-ext4.img", "target-xfs.img", "target-btrfs.img"]
    assert all(head(p).startswith(run.GUEST_DISK_LABEL) for p in extra)
    env = t.guest_env(1)
    assert env["TARGET_DISKS"] == "1" and env["AIOH_GUEST_DISKS"] == run.guest_disks_spec("nvme-4k")
    assert env["DISK"] == "nvme0n1" and env["AIOH_VM_GUEST"] == "1"
    assert t.vm_record()["target_disks"][0] == {"disk": "nvme0n2", "as": "raw", "bytes": 256 << 20}


def test_run_wide_device_fault_keeps_one_raw_disk(tmp_path: Path):
    t = target(tmp_path, device_faults=(qemu.DeviceFault("read_aio", "EIO", 8, True),))
    assert t.disks()[1] == ()
    env = t.guest_env(1)
    assert "TARGET_DISKS" not in env and "FAULT_PARTS" not in env
    assert env["MODPARAMS_nvme_core"] == "max_retries=0"
    assert env["AIOH_GUEST_DISKS"] == run.guest_disks_spec("nvme-4k")   # same ids as everywhere
    assert t.vm_record()["target_disks"] == []


def fault_cases():
    return [{"id": "plain@io_uring", "interface": "io_uring"},
            {"id": "faults.read@io_uring", "interface": "io_uring", "fault": READ},
            {"id": "faults.slow@libaio", "interface": "libaio", "fault": SLOW}]


def test_fault_parts_get_disks_after_the_targets_and_run_after_the_catalog(tmp_path: Path):
    cases = fault_cases()
    plain, parts = devfaults.parts(cases)
    t = target(tmp_path, cases=cases, fault_parts=tuple(parts))
    first, extra = t.disks()
    assert [getattr(d, "name", None) for d in extra[:4]] == [f"target-{w}.img" for w, _ in run.TARGET_DISKS]
    slow, read = extra[4:]
    assert slow.throttle_iops == 2 and slow.blkdebug is None          # the throttle part runs first
    assert read.blkdebug.read_text().count("[inject-error]") == 1 and read.throttle_iops is None
    assert not read.path.open("rb").read(64).strip(b"\0")            # raw: no label, nothing on it
    argv = qemu.disk_args(first, "nvme-4k", extra)
    assert any("file.driver=blkdebug" in a and "cache=writeback" in a and "fault-2.img" in a for a in argv)
    assert any(a.endswith("throttling.iops-total=2") and "fault-1.img" in a for a in argv)
    assert "nvme-ns,drive=d6,bus=nvme0,nsid=7" in " ".join(argv)
    env = t.guest_env(1)
    assert env["FAULT_PARTS"] == "1 2" and env["FAULT_DISKS"] == "nvme0n6 nvme0n7"
    assert env["FAULT_2_ARMED"] == "read_aio:EIO:sector=2621440" and env["FAULT_2_RETRIES"] == "0"
    assert env["FAULT_1_LOG"] == "" and env["FAULT_2_LOG"] == "1" and float(env["LOG_WINDOW"]) > 5 and env["LOG_BURST"] == "10"
    assert "AIOH_DEVICE_FAULT" not in env and "MODPARAMS_nvme_core" not in env   # the catalog runs unfaulted
    assert t.job_ids() == (["plain@io_uring"], [], {1: ["faults.slow@libaio"], 2: ["faults.read@io_uring"]})
    # A resumed boot carries only the parts with ids left, on the same disks.
    t.remaining = [c for c in cases if c["id"] == "faults.read@io_uring"]
    assert t.job_ids() == ([], [], {2: ["faults.read@io_uring"]}) and t.guest_env(2)["FAULT_PARTS"] == "2"
    rec = t.vm_record()["device_fault_parts"]
    assert [(r["armed"], r["disk"]) for r in rec] == [(["throttle:iops=2"], "nvme0n6"),
                                                      (["read_aio:EIO:sector=2621440"], "nvme0n7")]


def test_exclusive_rows_run_in_the_alone_part_after_the_catalog(tmp_path: Path):
    alone = {"class": "exclusive", "why": "fault layer block loads modules"}
    cases = [{"id": "plain@io_uring", "interface": "io_uring", "resources": {"class": "shared"}},
             {"id": "faults.block@libaio", "interface": "libaio", "resources": alone},
             {"id": "faults.read@io_uring", "interface": "io_uring", "fault": READ, "resources": alone}]
    plain, parts = devfaults.parts(cases)
    t = target(tmp_path, cases=cases, fault_parts=tuple(parts))
    # A device-fault row stays in its part even though it, too, runs alone.
    assert t.job_ids() == (["plain@io_uring"], ["faults.block@libaio"], {1: ["faults.read@io_uring"]})
    job = t.job_archive(1)
    assert b"job/alone.ids" in job and b"faults.block@libaio\n" in job and b"job/fault.1.ids" in job
    assert run.part_label(run.ALONE_PART, 1) == "alone" and run.part_label("fault.1", 2) == "fault 1/2"


def test_job_archive_carries_each_parts_ids(tmp_path: Path):
    data = initramfs.job_archive({"A": "1"}, ["x"], {"fault.2.ids": ["f1", "f2"]})
    assert b"job/fault.2.ids" in data and b"f1\nf2\n" in data and b"job/ids" in data


def test_monitor_socket_lives_in_a_short_runtime_dir(tmp_path: Path):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    k = Kernel("linux-image-x", "1", "6.12.0-x", deep / "bzImage", None, deep)
    o = run.Options(harness=deep / "harness", cases_dir=deep, cache=deep, out=deep, inject_panic_after=2)
    t = run.TargetRun(k, "nvme-4k", [{"id": "a"}], o, lambda **_: None)
    sock = t.runtime() / "monitor.sock"
    try:
        assert len(str(sock)) < 108 and len(str(deep / "work" / "monitor.sock")) >= 108
        assert t.runtime() == sock.parent                               # one dir per target run
    finally:
        import shutil
        shutil.rmtree(sock.parent)


def test_harness_args_reach_the_guest(tmp_path: Path):
    t = target(tmp_path, harness_args=("--jobs", "8"), case_timeout=30)
    assert t.guest_env(2)["HARNESS_ARGS"] == f"--cases {run.initramfs.CASES_IN_GUEST} --jobs 8 --timeout 30"


def test_a_reboot_after_a_panic_in_the_alone_part_takes_its_slot_back_first(tmp_path: Path, monkeypatch):
    """Boot 1 reaches the alone part (the guest gives its slot up) and panics in its second row;
    boot 2, for the row left, must not start before the guest holds a slot again."""
    import json
    import subprocess
    import threading
    from types import SimpleNamespace

    from vm import matrix
    slots = matrix.Slots(1)
    slot = slots.hold()
    cases = [{"id": "plain@io_uring", "resources": {"class": "shared"}},
             {"id": "alone.a@io_uring", "resources": {"class": "exclusive"}},
             {"id": "alone.b@io_uring", "resources": {"class": "exclusive"}},
             {"id": "alone.c@io_uring", "resources": {"class": "exclusive"}}]
    t = target(tmp_path, cases=cases, on_light=slot.release, on_boot=slot.take)
    t.base = tmp_path / "base"
    free_at_boot = []

    def vm_config(n, con, res):
        return SimpleNamespace(console_log=con, result_file=res, monitor=None)

    class Guest:
        """QEMU's stand-in: boot 1 runs the catalog and panics in the alone part's first row;
        boot 2 runs what is left."""

        def __init__(self, argv, **kw):
            n = len(t.boots) + 1
            got = slots.sem.acquire(blocking=False)       # a place nobody holds?
            if got:
                slots.sem.release()
            free_at_boot.append(got)
            rec = lambda **r: json.dumps(r) + "\n"
            res = lambda i: rec(type="result", id=i, verdict="pass")
            if n == 1:
                out = (rec(type="aioh-part", part="catalog", ids=1) + res("plain@io_uring")
                       + rec(type="aioh-part", part="alone", ids=3) + res("alone.a@io_uring"))
                con = ("AIOH-PHASE run t=9 1 ids\nAIOH-PHASE alone t=20 3 ids\n"
                       "aioharness: begin alone.b@io_uring\nKernel panic - not syncing: x\n")
            else:
                out = rec(type="aioh-part", part="alone", ids=1) + res("alone.c@io_uring") + rec(type="aioh-exit", rc=0)
                con = "AIOH-PHASE alone t=20 1 ids\nAIOH-PHASE collect t=30 rc=0\n"
            t.workdir.joinpath(f"result.{n}.jsonl").write_text(out)
            (tmp_path / run.console_name(t.label, n)).write_text(con)
            self.polls = 0

        def poll(self):
            self.polls += 1
            return None if self.polls < 2 else 0

        def kill(self):
            pass

        def wait(self):
            return 0

    monkeypatch.setattr(initramfs, "cached_image", lambda *a, **k: tmp_path / "base")
    monkeypatch.setattr(t, "vm_config", vm_config)
    monkeypatch.setattr(qemu, "vm_argv", lambda cfg: [])
    monkeypatch.setattr(subprocess, "Popen", Guest)
    monkeypatch.setattr(run.time, "sleep", lambda s: None)
    t.run()
    assert [b.ending.verdict for b in t.boots] == ["kernel-panic", None]
    assert t.boots[0].ending.phase == "alone"
    assert t.results["alone.b@io_uring"]["verdict"] == "kernel-panic"   # the case it died in
    # Boot 1 held the place; boot 2 came after the guest had taken it back, not beside it.
    assert free_at_boot == [False, False]
    assert slots.sem.acquire(blocking=False)   # boot 2's alone part gave it up again, once
    slot.release()
    assert not slots.sem.acquire(blocking=False)
