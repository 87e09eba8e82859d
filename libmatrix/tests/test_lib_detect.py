"""Loaded-library detection from a real harness result: the harness runs with its liburing and
libaio resolved from a directory of our own (copies of the system files under the sonames), and
the result's environment.libraries must name those copies: the probe reads the process (dladdr),
not the request. A run without the directory must name the system files instead."""
import json
import os
import shutil
import subprocess

from libmatrix import detect


def system_lib(soname: str) -> str:
    out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if line.strip().startswith(soname + " ") and "x86-64" in line:
            return os.path.realpath(line.split("=>")[-1].strip())
    raise AssertionError(f"{soname} not in the loader cache")


def run_one(harness, cases, out, env):
    subprocess.run([str(harness), "--interface", "io_uring,libaio", "--filter", "errors.*",
                    "--format", "json", "--output", str(out), "--color", "never"]
                   + (["--cases", str(cases)] if cases else []),
                   env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
    return json.loads(out.read_text())


def test_result_names_the_file_the_loader_picked(harness, cases, tmp_path):
    libdir = tmp_path / "lib"
    libdir.mkdir()
    copies = {}
    for lib, soname in (("liburing", "liburing.so.2"), ("libaio", "libaio.so.1")):
        src = system_lib(soname)
        copies[lib] = libdir / os.path.basename(src)
        shutil.copy2(src, copies[lib])
        (libdir / soname).symlink_to(copies[lib].name)
    swapped = run_one(harness, cases, tmp_path / "swapped.json", dict(os.environ, LD_LIBRARY_PATH=str(libdir)))
    plain = run_one(harness, cases, tmp_path / "plain.json",
                    {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"})
    for lib in ("liburing", "libaio"):
        assert detect.loaded(swapped, lib) == str(copies[lib])
        assert detect.check(swapped, lib, libdir) == ""
        assert detect.loaded(plain, lib) == system_lib({"liburing": "liburing.so.2", "libaio": "libaio.so.1"}[lib])
        assert "not from the requested" in detect.check(plain, lib, libdir)
    assert swapped["results"], "the filtered run executed no case"


def test_check_reports_an_absent_library():
    assert "names no loaded liburing" in detect.check({"environment": {"libraries": {}}}, "liburing", None)
