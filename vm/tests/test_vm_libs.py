"""`scripts/matrix --libs`: a library build's shared objects reach the guest under its own
directory (real file and soname link, nothing else of the prefix), the guest runs the harness
with LD_LIBRARY_PATH there, every target is crossed with every build, and a build that cannot be
swapped in place is refused before anything boots."""
import shutil
import subprocess
from pathlib import Path

import pytest

from vm import libs, matrix

needs_cpio = pytest.mark.skipif(not shutil.which("cpio"), reason="cpio(1) not installed (apt-get install cpio)")


def fake_prefix_lib(tmp_path: Path) -> Path:
    lib = tmp_path / "prefix" / "lib"
    lib.mkdir(parents=True)
    (lib / "liburing.so.2.9").write_bytes(b"\x7fELF liburing 2.9")
    (lib / "liburing.so.2").symlink_to("liburing.so.2.9")
    (lib / "liburing.so").symlink_to("liburing.so.2")      # the linker's link: not shipped
    (lib / "libfoo.so.1").write_bytes(b"unrelated")          # not a library the build replaces
    return lib


@needs_cpio
def test_archive_holds_the_build_files_under_its_guest_dir(tmp_path: Path):
    data = libs.archive(fake_prefix_lib(tmp_path), "liburing-2.9")
    root = tmp_path / "guest"
    root.mkdir()
    subprocess.run(["cpio", "-idm", "--quiet"], input=data, cwd=root, check=True)
    d = root / "opt/aioh/lib/liburing-2.9"
    assert sorted(p.name for p in d.iterdir()) == ["liburing.so.2", "liburing.so.2.9"]
    assert (d / "liburing.so.2.9").read_bytes() == b"\x7fELF liburing 2.9"
    assert (d / "liburing.so.2").is_symlink() and str((d / "liburing.so.2").readlink()) == "liburing.so.2.9"
    assert libs.guest_dir("liburing-2.9") == "/opt/aioh/lib/liburing-2.9"


def test_guest_env_points_the_harness_at_the_build():
    assert libs.guest_env("") == {}
    env = libs.guest_env("libaio-0.3.112")
    assert env["AIOH_LD_LIBRARY_PATH"] == "/opt/aioh/lib/libaio-0.3.112"
    init = (Path(libs.__file__).parent / "guest" / "init.sh").read_text()
    # Only the harness gets the build's directory (mkfs and the rest keep the system libraries).
    harness_line = next(line for line in init.splitlines() if '"$HARNESS" --ids' in line)
    assert harness_line.lstrip().startswith('LD_LIBRARY_PATH="${AIOH_LD_LIBRARY_PATH:-}" "$HARNESS"')


def test_a_link_leaving_the_directory_is_refused(tmp_path: Path):
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "libaio.so.1").symlink_to("/lib/x86_64-linux-gnu/libaio.so.1.0.2")
    with pytest.raises(ValueError, match="outside its directory"):
        libs.archive(lib, "libaio-x")


def test_list_targets_crosses_kernel_device_and_library(monkeypatch, capsys, tmp_path: Path):
    lib = fake_prefix_lib(tmp_path)
    monkeypatch.setattr(libs, "resolve", lambda spec, cache=None, refresh=False:
                        [(b, lib) for b in spec.split(",")])
    assert matrix.main(["--list-targets", "--kernels", "6.1", "--devices", "nvme-512,virtio",
                        "--libs", "liburing-2.9,liburing-2.15"]) == 0
    assert capsys.readouterr().out.split("\n")[:-1] == [
        "6.1 nvme-512 liburing-2.9", "6.1 nvme-512 liburing-2.15",
        "6.1 virtio-512 liburing-2.9", "6.1 virtio-512 liburing-2.15"]


def test_unswappable_or_unknown_build_is_a_usage_error(capsys):
    assert matrix.main(["--list-targets", "--kernels", "6.1", "--libs", "libaio-0.3.113-t64"]) == 2
    assert "no in-place swap" in capsys.readouterr().err
    assert matrix.main(["--list-targets", "--kernels", "6.1", "--libs", "liburing-9.9"]) == 2
    assert "unknown library build" in capsys.readouterr().err


def test_label_names_the_build_and_checks_the_loaded_file(tmp_path: Path):
    doc = {"environment": {"libraries": {"liburing": {"path": "/opt/aioh/lib/liburing-2.9/liburing.so.2.9"}}}}
    libs.label(doc, "liburing-2.9", tmp_path)
    assert doc["environment"]["vm"]["library_build"] == "liburing-2.9.swap"
    assert doc["environment"]["library_matrix"]["loaded_ok"] is True
    doc = {"environment": {"libraries": {"liburing": {"path": "/usr/lib/x86_64-linux-gnu/liburing.so.2.3"}}}}
    assert libs.label(doc, "liburing-2.9", tmp_path)["environment"]["library_matrix"]["loaded_ok"] is False
