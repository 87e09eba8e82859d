"""One target's guests without booting: an ordinary guest gets the sweep's labelled target disks
and is told about them; a fault guest keeps its one raw disk; both name the same targets."""
from pathlib import Path

from vm import qemu, run
from vm.kernel import Kernel


def target(tmp_path: Path, **kw) -> run.TargetRun:
    k = Kernel("linux-image-x", "1", "6.12.0-x", tmp_path / "bzImage", None, tmp_path)
    o = run.Options(harness=tmp_path / "harness", cases_dir=tmp_path, cache=tmp_path, out=tmp_path, **kw)
    return run.TargetRun(k, "nvme-4k", [{"id": "a"}], o, lambda **_: None)


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


def test_fault_guest_keeps_one_raw_disk(tmp_path: Path):
    t = target(tmp_path, armed=("read_aio:EIO:sector=8",),
               device_faults=(qemu.DeviceFault("read_aio", "EIO", 8, True),))
    assert t.disks()[1] == ()
    env = t.guest_env(1)
    assert "TARGET_DISKS" not in env and env["FS"] == "tmpfs"
    assert env["AIOH_GUEST_DISKS"] == run.guest_disks_spec("nvme-4k")   # same ids as everywhere
    assert t.vm_record()["target_disks"] == []


def test_harness_args_reach_the_guest(tmp_path: Path):
    t = target(tmp_path, harness_args=("--jobs", "8"), case_timeout=30)
    assert t.guest_env(2)["HARNESS_ARGS"] == f"--cases {run.initramfs.CASES_IN_GUEST} --jobs 8 --timeout 30"
