"""A deliberately broken user prefix (libaio returning -1/errno), to prove the gate catches it.

`python3 -m libmatrix.broken DIR` compiles broken/libaio_wrong_errno.c into DIR/lib/libaio.so.1
(soname libaio.so.1, the real libaio's symbol versions, forwarding to the real file) and copies the
system libaio.h into DIR/include, so DIR is a prefix like any user's `make install`.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent / "broken"


def system_libaio() -> Path:
    """The real libaio.so.1 the system's loader would pick."""
    r = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=True)
    for line in r.stdout.splitlines():
        if line.strip().startswith("libaio.so.1 ") and "x86-64" in line:
            return Path(os.path.realpath(line.split("=>")[-1].strip()))
    raise FileNotFoundError("no libaio.so.1 in the loader cache (libaio1 not installed?)")


def make(prefix: Path, header: Path = Path("/usr/include/libaio.h")) -> Path:
    lib, inc = prefix / "lib", prefix / "include"
    lib.mkdir(parents=True, exist_ok=True)
    inc.mkdir(parents=True, exist_ok=True)
    so = lib / "libaio.so.1"
    subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror",
                    f'-DREAL_LIBAIO="{system_libaio()}"', "-Wl,-soname,libaio.so.1",
                    f"-Wl,--version-script={HERE / 'libaio.map'}", "-o", str(so),
                    str(HERE / "libaio_wrong_errno.c"), "-ldl"], check=True)
    link = lib / "libaio.so"
    link.unlink(missing_ok=True)
    link.symlink_to("libaio.so.1")
    shutil.copy2(header, inc / "libaio.h")
    return so


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python3 -m libmatrix.broken DIR", file=sys.stderr)
        sys.exit(2)
    print(make(Path(sys.argv[1])))
