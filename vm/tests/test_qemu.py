"""QEMU argv: each small function does one thing, and the whole argv is their concatenation."""
from pathlib import Path

from vm import qemu


def cfg(**kw):
    base = dict(kernel=Path("/k/vmlinux"), initrd=Path("/k/initrd"), console_log=Path("/o/con.log"),
                result_file=Path("/o/res.jsonl"), disk=Path("/o/disk.img"), device="nvme-4k")
    base.update(kw)
    return qemu.VmConfig(**base)


def pairs(argv):
    return list(zip(argv, argv[1:]))


def test_tcg_args():
    a = qemu.accel_args("tcg")
    assert a[:2] == ["-accel", "tcg,tb-size=256"] and "-cpu" in a


def test_tcg_with_more_vcpus_is_multi_threaded():
    assert qemu.accel_args("tcg", 2)[1] == "tcg,tb-size=256,thread=multi"


def test_kvm_args():
    assert qemu.accel_args("kvm") == ["-accel", "kvm", "-cpu", "host"]


def test_firmware_qboot_and_seabios():
    assert qemu.firmware_args(qemu.BootPath("pvh", "qboot")) == ["-bios", qemu.QBOOT]
    assert qemu.firmware_args(qemu.BootPath("bzimage", "seabios")) == []


def test_nvme_block_sizes():
    for dev, lbs, pbs in (("nvme-512", 512, 512), ("nvme-4k", 4096, 4096), ("nvme-512e", 512, 4096)):
        a = qemu.disk_args(Path("/d.img"), dev)
        nvme = a[a.index("-device") + 1]
        assert nvme.startswith("nvme,drive=d0")
        assert f"logical_block_size={lbs}" in nvme and f"physical_block_size={pbs}" in nvme
        assert "mdts=" not in nvme


def test_nvme_mdts_limits_the_controller():
    a = qemu.disk_args(Path("/d.img"), "nvme-mdts")
    assert a[a.index("-device") + 1].endswith(",mdts=1")


def test_extra_disks_are_namespaces_of_the_one_controller():
    a = qemu.disk_args(Path("/d.img"), "nvme-4k", (Path("/t1.img"), Path("/t2.img")))
    devs = [a[i + 1] for i, x in enumerate(a) if x == "-device"]
    assert devs[0].startswith("nvme,drive=d0,serial=aioh0,id=nvme0")
    assert devs[1:] == ["nvme-ns,drive=d1,bus=nvme0,nsid=2,logical_block_size=4096,physical_block_size=4096",
                        "nvme-ns,drive=d2,bus=nvme0,nsid=3,logical_block_size=4096,physical_block_size=4096"]
    assert "file=/t2.img" in a[a.index("-drive", a.index("-drive", a.index("-drive") + 1) + 1) + 1]
    assert [qemu.guest_disk("nvme-4k", i) for i in range(3)] == ["nvme0n1", "nvme0n2", "nvme0n3"]


def test_virtio_disk():
    a = qemu.disk_args(Path("/d.img"), "virtio-512", (Path("/t1.img"),))
    devs = [a[i + 1] for i, x in enumerate(a) if x == "-device"]
    assert devs == ["virtio-blk-pci,drive=d0,logical_block_size=512,physical_block_size=512",
                    "virtio-blk-pci,drive=d1,logical_block_size=512,physical_block_size=512"]
    assert "file=/d.img" in a[a.index("-drive") + 1]
    assert [qemu.guest_disk("virtio-4k", i) for i in range(2)] == ["vda", "vdb"]


def test_result_channel_is_a_named_virtio_port_into_a_file():
    a = qemu.result_channel_args(Path("/o/res"))
    assert "virtio-serial-pci,id=vser" in a
    assert "file,id=res,path=/o/res" in a
    assert any(x.startswith("virtserialport,") and f"name={qemu.RESULT_PORT}" in x for x in a)


def test_console_is_separate_from_results():
    a = qemu.console_args(Path("/o/con.log"))
    assert ("-serial", "chardev:con") in pairs(a) and "file,id=con,path=/o/con.log" in a


def test_cmdline_panics_end_the_vm():
    line = qemu.kernel_cmdline(("foo=1",))
    assert "panic=-1" in line and "console=ttyS0" in line and line.endswith("foo=1")


def test_cmdline_enables_the_bpf_lsm():
    # 5.10's CONFIG_LSM lacks bpf: without lsm= the BPF LSM fault rows would skip there.
    lsm = [a for a in qemu.kernel_cmdline().split() if a.startswith("lsm=")]
    assert len(lsm) == 1
    names = lsm[0][4:].split(",")
    assert "bpf" in names and "apparmor" in names and names.index("apparmor") < names.index("selinux")


def test_vm_argv_concatenates_the_parts():
    c = cfg(boot=qemu.BootPath("pvh", "qboot"))
    argv = qemu.vm_argv(c)
    assert argv[0] == qemu.QEMU
    assert "-no-reboot" in argv and ("-bios", qemu.QBOOT) in pairs(argv)
    assert ("-kernel", "/k/vmlinux") in pairs(argv) and ("-initrd", "/k/initrd") in pairs(argv)
    assert ("-M", "q35") in pairs(argv)


def test_vm_argv_without_disk():
    argv = qemu.vm_argv(cfg(disk=None, device=None))
    assert "-drive" not in argv


def test_probe_sector_is_a_boot_sector_writing_the_exit_port():
    s = qemu.PROBE_SECTOR
    assert len(s) == 512 and s[-2:] == b"\x55\xaa"
    assert s[:4] == bytes([0xB0, 0x2A, 0xE6, 0xF4])          # mov al,0x2a ; out 0xf4,al
    assert qemu.PROBE_EXIT == 85


def test_probe_argv_has_debug_exit_device():
    argv = qemu.probe_argv(Path("/p.img"), "tcg")
    assert any(x.startswith("isa-debug-exit,iobase=0xf4") for x in argv)


def test_probe_runs_with_the_guests_accelerator_and_cpu():
    """A nested host runs the boot sector under KVM with QEMU's default CPU and aborts with
    `-cpu host`: the probe must use exactly the arguments the guests get."""
    for accel in ("kvm", "tcg"):
        argv = qemu.probe_argv(Path("/p.img"), accel)
        want = qemu.accel_args(accel)
        at = argv.index(want[0])
        assert argv[at:at + len(want)] == want


def test_device_fault_parse_and_blkdebug_config():
    f = qemu.DeviceFault.parse("read_aio:EIO:sector=4096")
    assert f == qemu.DeviceFault("read_aio", "EIO", 4096, True)
    conf = qemu.blkdebug_config([f, qemu.DeviceFault.parse("write_aio:ENOSPC:always")])
    assert '[inject-error]\nevent = "read_aio"\nerrno = "5"\nsector = "4096"\nonce = "on"' in conf
    assert 'event = "write_aio"\nerrno = "28"\nonce = "off"' in conf


def test_device_fault_rejects_unknown_errno_and_parts():
    import pytest
    with pytest.raises(ValueError):
        qemu.blkdebug_config([qemu.DeviceFault("read_aio", "ENOTANERRNO")])
    with pytest.raises(ValueError):
        qemu.DeviceFault.parse("read_aio:EIO:sometimes")


def test_faulty_disk_keeps_the_device_and_wraps_the_image():
    a = qemu.faulty_disk_args(Path("/d.img"), "nvme-512", Path("/c.conf"))
    drive = a[a.index("-drive") + 1]
    assert drive.startswith("file.driver=blkdebug,file.config=/c.conf,file.image.filename=/d.img,")
    assert "cache=writeback" in drive          # guest flushes reach blkdebug (unsafe drops them)
    assert "logical_block_size=512" in a[a.index("-device") + 1]
    assert qemu.vm_argv(cfg(blkdebug=Path("/c.conf"))).count("-drive") == 1
