"""An unpacked Debian tree becomes a prefix whose links stay inside it: bookworm's libaio-dev links
/usr/lib/<triplet>/libaio.so to the absolute /lib/<triplet>/libaio.so.1.0.2, which in an unpacked
tree would silently point at the system library."""
import os

from libmatrix import fetch as F


def test_absolute_links_are_kept_inside_the_prefix(tmp_path):
    un = tmp_path / "unpacked"
    (un / "lib/x86_64-linux-gnu").mkdir(parents=True)
    (un / "usr/lib/x86_64-linux-gnu").mkdir(parents=True)
    (un / "usr/include").mkdir(parents=True)
    (un / "usr/include/libaio.h").write_text("/* header */\n")
    (un / "lib/x86_64-linux-gnu/libaio.so.1.0.1").write_bytes(b"\x7fELF")
    (un / "lib/x86_64-linux-gnu/libaio.so.1").symlink_to("libaio.so.1.0.1")
    (un / "usr/lib/x86_64-linux-gnu/libaio.so").symlink_to("/lib/x86_64-linux-gnu/libaio.so.1.0.1")
    (un / "usr/lib/x86_64-linux-gnu/libaio.a").write_bytes(b"!<arch>\n")
    F.normalise(un, tmp_path / "prefix")
    p = F.Prefix(tmp_path / "prefix", "libaio")
    assert p.problems() == []
    assert p.lib == tmp_path / "prefix/lib"
    for name in ("libaio.so", "libaio.so.1"):
        real = os.path.realpath(p.lib / name)
        assert real == str(p.lib / "libaio.so.1.0.1"), name
    assert not (p.lib / "libaio.a").exists()  # the rebuild links the shared object


def test_problems_name_what_is_missing(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib/liburing.so.2").symlink_to("liburing.so.2.99")
    bad = F.Prefix(tmp_path, "liburing").problems()
    assert any("liburing.h is missing" in b for b in bad)
    assert any("dangling" in b for b in bad)


def test_user_prefix_lib64_is_found(tmp_path):
    (tmp_path / "lib64").mkdir()
    (tmp_path / "lib64/liburing.so.2.15").write_bytes(b"")
    assert F.Prefix(tmp_path, "liburing").lib == tmp_path / "lib64"
