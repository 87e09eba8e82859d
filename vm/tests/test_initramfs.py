"""The guest image: module closure and order from modules.dep (soft deps through aliases),
decompressed modules, the harness with every library ldd names, busybox, init and the cases,
in a newc archive the kernel (and cpio(1)) can read."""
import lzma
import shutil
import subprocess
from pathlib import Path

import pytest

from vm import initramfs

DEP = """\
kernel/drivers/nvme/host/nvme.ko.xz: kernel/drivers/nvme/host/nvme-core.ko.xz
kernel/drivers/nvme/host/nvme-core.ko.xz:
kernel/fs/ext4/ext4.ko.xz: kernel/fs/mbcache.ko.xz kernel/fs/jbd2/jbd2.ko.xz kernel/lib/crc16.ko.xz
kernel/fs/mbcache.ko.xz:
kernel/fs/jbd2/jbd2.ko.xz:
kernel/lib/crc16.ko.xz:
kernel/crypto/crc32c_generic.ko.xz:
kernel/drivers/md/dm-flakey.ko.xz: kernel/drivers/md/dm-mod.ko.xz
kernel/drivers/md/dm-mod.ko.xz:
"""
SOFT = "softdep ext4 pre: crypto-crc32c\n"
ALIAS = "alias crypto-crc32c crc32c_generic\nalias pci:v*d* nvme\n"


def test_parse_modules_dep_names_normalised():
    d = initramfs.parse_modules_dep(DEP)
    assert d["nvme_core"][0] == "kernel/drivers/nvme/host/nvme-core.ko.xz"
    assert d["dm_flakey"][1] == ["dm_mod"]


def test_load_order_puts_dependencies_first_once():
    d = initramfs.parse_modules_dep(DEP)
    order = initramfs.load_order(["nvme", "nvme_core", "dm-flakey"], d)
    assert order == ["nvme_core", "nvme", "dm_mod", "dm_flakey"]


def test_soft_dependency_through_alias():
    d = initramfs.parse_modules_dep(DEP)
    order = initramfs.load_order(["ext4"], d, initramfs.parse_softdeps(SOFT), initramfs.parse_aliases(ALIAS))
    assert order.index("crc32c_generic") < order.index("ext4")
    assert set(order) == {"crc32c_generic", "crc16", "jbd2", "mbcache", "ext4"}


def test_absent_or_builtin_module_skipped():
    assert initramfs.load_order(["virtio_pci"], initramfs.parse_modules_dep(DEP)) == []


def test_parse_ldd():
    text = """\tlinux-vdso.so.1 (0x00007ffd)
\tliburing.so.2 => /lib/x86_64-linux-gnu/liburing.so.2 (0x00007f)
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)
\t/lib64/ld-linux-x86-64.so.2 (0x00007f)
"""
    assert initramfs.parse_ldd(text) == ["/lib/x86_64-linux-gnu/liburing.so.2",
                                         "/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"]


needs_cpio = pytest.mark.skipif(not shutil.which("cpio"), reason="cpio(1) not installed (apt-get install cpio)")


@needs_cpio
def test_newc_is_read_by_cpio(tmp_path: Path):
    img = initramfs.Image()
    img.add_file("a/b/c.txt", b"hello", 0o644)
    img.add_symlink("lnk", "a/b/c.txt")
    data = initramfs.newc(list(img.entries.values()))
    assert len(data) % 4 == 0
    r = subprocess.run(["cpio", "-it"], input=data, capture_output=True)
    assert r.returncode == 0
    assert r.stdout.decode().split() == ["a", "a/b", "a/b/c.txt", "lnk"]
    r = subprocess.run(["cpio", "-i", "--to-stdout", "a/b/c.txt"], input=data, capture_output=True)
    assert r.stdout == b"hello"


@needs_cpio
def test_job_archive_quotes_values():
    data = initramfs.job_archive({"HARNESS_ARGS": "--filter 'x*'"}, ["a.b@libaio", "c.d@io_uring"])
    env = subprocess.run(["cpio", "-i", "--to-stdout", "job/env"], input=data, capture_output=True).stdout
    ids = subprocess.run(["cpio", "-i", "--to-stdout", "job/ids"], input=data, capture_output=True).stdout
    assert ids == b"a.b@libaio\nc.d@io_uring\n"
    out = subprocess.run(["sh", "-c", ". /dev/stdin; printf %s \"$HARNESS_ARGS\""], input=env,
                         capture_output=True).stdout
    assert out == b"--filter 'x*'"


@pytest.fixture
def fake_moddir(tmp_path: Path) -> Path:
    mods = tmp_path / "lib/modules/9.9.9-test"
    for line in DEP.splitlines():
        rel = line.split(":")[0]
        (mods / rel).parent.mkdir(parents=True, exist_ok=True)
        (mods / rel).write_bytes(lzma.compress(b"\x7fELF fake " + rel.encode()))
    (mods / "modules.dep").write_text(DEP)
    (mods / "modules.softdep").write_text(SOFT)
    (mods / "modules.alias").write_text(ALIAS)
    return mods


def test_image_contents(tmp_path: Path, fake_moddir: Path):
    cases = tmp_path / "cases"
    cases.mkdir()
    (cases / "errors.toml").write_text("area = 'errors'\n")
    img = initramfs.build_image(Path("/bin/true"), cases, fake_moddir, "9.9.9-test", initramfs.CASES_IN_GUEST)
    p = img.paths()
    assert {"init", "bin/busybox", initramfs.HARNESS_IN_GUEST.lstrip("/"), "opt/aioh/cases/errors.toml",
            "lib64/ld-linux-x86-64.so.2", "etc/aioh/modules.load"} <= p
    assert any(x.endswith("/libc.so.6") for x in p)
    assert any(x.endswith("sbin/mkfs.ext4") for x in p)
    assert img.entries["init"].mode & 0o111
    ko = "lib/modules/9.9.9-test/kernel/drivers/nvme/host/nvme.ko"
    assert ko in p and ko + ".xz" not in p
    assert img.entries[ko].data.startswith(b"\x7fELF fake")          # decompressed on the host
    load = img.entries["etc/aioh/modules.load"].data.decode().split()
    assert load.index("kernel/drivers/nvme/host/nvme-core.ko") < load.index("kernel/drivers/nvme/host/nvme.ko")
    assert "kernel/drivers/md/dm-flakey.ko" not in load                  # shipped, not loaded
    assert "lib/modules/9.9.9-test/kernel/drivers/md/dm-flakey.ko" in p
    dep = img.entries["lib/modules/9.9.9-test/modules.dep"].data.decode()
    assert "kernel/drivers/md/dm-flakey.ko: kernel/drivers/md/dm-mod.ko" in dep and ".xz" not in dep


def test_image_key_changes_with_cases(tmp_path: Path):
    cases = tmp_path / "cases"
    cases.mkdir()
    (cases / "a.toml").write_text("x")
    k1 = initramfs.image_key(Path("/bin/true"), cases, None, "v")
    (cases / "a.toml").write_text("y")
    assert initramfs.image_key(Path("/bin/true"), cases, None, "v") != k1


def test_image_key_ignores_where_the_inputs_live(tmp_path: Path):
    for d in ("a", "b"):
        (tmp_path / d / "cases").mkdir(parents=True)
        (tmp_path / d / "cases" / "x.toml").write_text("same")
    assert (initramfs.image_key(Path("/bin/true"), tmp_path / "a" / "cases", None, "v")
            == initramfs.image_key(Path("/bin/true"), tmp_path / "b" / "cases", None, "v"))
