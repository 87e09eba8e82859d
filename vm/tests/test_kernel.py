"""Kernel packages: the 7.x split parts named in Depends, both file layouts, and the
extract-vmlinux search for the compressed payload inside a bzImage."""
import gzip
import lzma
from pathlib import Path

from vm import kernel

ELF = b"\x7fELF\x02\x01\x01" + bytes(200)


def test_split_deps_new_layout():
    dep = ("dracut | initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool, "
           "linux-base-7.3.4+deb13-amd64 (= 7.3.4-1~bpo13+1), linux-binary-7.3.4+deb13-amd64 (= 7.3.4-1~bpo13+1), "
           "linux-modules-7.3.4+deb13-amd64 (= 7.3.4-1~bpo13+1), kmod")
    assert kernel.split_deps(dep, "7.3.4+deb13-amd64") == [
        "linux-base-7.3.4+deb13-amd64", "linux-binary-7.3.4+deb13-amd64", "linux-modules-7.3.4+deb13-amd64"]


def test_split_deps_classic_layout_has_none():
    assert kernel.split_deps("kmod, linux-base (>= 4.3~), initramfs-tools | linux-initramfs-tool",
                             "6.1.0-50-amd64") == []


def make(root: Path, files):
    for f in files:
        (root / f).parent.mkdir(parents=True, exist_ok=True)
        (root / f).write_bytes(b"x")


def test_layout_classic(tmp_path):
    make(tmp_path, ["boot/vmlinuz-6.1.0-50-amd64", "lib/modules/6.1.0-50-amd64/kernel/fs/x.ko"])
    bz, mods = kernel.find_layout(tmp_path, "6.1.0-50-amd64")
    assert bz.name == "vmlinuz-6.1.0-50-amd64" and mods == tmp_path / "lib/modules/6.1.0-50-amd64"


def test_layout_trixie_boot_plus_usr_lib_modules(tmp_path):
    make(tmp_path, ["boot/vmlinuz-6.12.117+deb13-amd64", "usr/lib/modules/6.12.117+deb13-amd64/kernel/x.ko.xz"])
    bz, mods = kernel.find_layout(tmp_path, "6.12.117+deb13-amd64")
    assert bz is not None and mods == tmp_path / "usr/lib/modules/6.12.117+deb13-amd64"


def test_layout_split_7x(tmp_path):
    make(tmp_path, ["usr/lib/modules/7.3.4+deb13-amd64/vmlinuz", "usr/lib/modules/7.3.4+deb13-amd64/kernel/x.ko.xz"])
    bz, mods = kernel.find_layout(tmp_path, "7.3.4+deb13-amd64")
    assert bz == tmp_path / "usr/lib/modules/7.3.4+deb13-amd64/vmlinuz" and mods is not None
    assert kernel.guess_abi(tmp_path) == "7.3.4+deb13-amd64"


def test_extract_vmlinux_xz_after_false_magic():
    fake_bz = b"MZ" + bytes(100) + b"\xfd7zXZ\x00garbage" + bytes(50) + lzma.compress(ELF) + b"\x00" * 64
    assert kernel.extract_vmlinux(fake_bz) == ELF


def test_extract_vmlinux_gzip():
    assert kernel.extract_vmlinux(b"HdrS" + bytes(30) + gzip.compress(ELF) + b"tail") == ELF


def test_extract_vmlinux_not_found():
    assert kernel.extract_vmlinux(b"MZ" + bytes(500)) is None
