"""Builds of the harness for the library matrix, under <cache>/libs/builds/ (never in the repo).

The system build and every rebuild use the same flags, so the library is the only difference
between two columns. ccache is used when installed: only the files that include liburing.h or
libaio.h differ between builds, and everything else is a cache hit.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


class BuildError(RuntimeError):
    pass


def build_dir(cache: Path, uring: Path | None, aio: Path | None, repo: Path = REPO) -> Path:
    """One directory per (source tree, prefixes): readable name plus a short hash of the inputs."""
    key = hashlib.sha256(f"{repo}\0{uring or ''}\0{aio or ''}".encode()).hexdigest()[:10]
    name = "-".join(p.parent.name if p.name == "prefix" else p.name for p in (uring, aio) if p) or "system"
    return cache / "libs" / "builds" / f"{name}-{key}"


def cmake_args(repo: Path, out: Path, uring: Path | None, aio: Path | None,
               build_type: str = "RelWithDebInfo") -> list[str]:
    args = ["cmake", "-S", str(repo), "-B", str(out), "-DAIOH_TESTS=OFF", f"-DCMAKE_BUILD_TYPE={build_type}",
            f"-DAIOH_LIBURING_PREFIX={uring or ''}", f"-DAIOH_LIBAIO_PREFIX={aio or ''}"]
    if shutil.which("ccache"):
        args += ["-DCMAKE_CXX_COMPILER_LAUNCHER=ccache", "-DCMAKE_C_COMPILER_LAUNCHER=ccache"]
    return args


def build_type_of(harness: Path) -> str | None:
    """CMAKE_BUILD_TYPE of the build directory holding `harness` (None when it has no
    CMakeCache.txt): rebuilds compared with a given system harness use its flags."""
    cache = harness.parent / "CMakeCache.txt"
    if not cache.is_file():
        return None
    for line in cache.read_text(errors="replace").splitlines():
        if line.startswith("CMAKE_BUILD_TYPE:"):
            return line.split("=", 1)[1]
    return None


def build(cache: Path, uring: Path | None = None, aio: Path | None = None, jobs: int = 2,
          repo: Path = REPO, build_type: str = "RelWithDebInfo") -> Path:
    """Configure and build the harness; returns its path. The log is kept next to the build."""
    out = build_dir(cache, uring, aio, repo)
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    # Objects of different build dirs are interchangeable when their preprocessed text is.
    env.setdefault("CCACHE_DIR", str(cache / "ccache"))
    env.setdefault("CCACHE_BASEDIR", str(repo))
    env.setdefault("CCACHE_NOHASHDIR", "true")
    env.setdefault("CCACHE_MAXSIZE", "4G")
    log = out / "libmatrix-build.log"
    with open(log, "w") as f:
        for cmd in (cmake_args(repo, out, uring, aio, build_type),
                    ["cmake", "--build", str(out), "--target", "harness", "-j", str(jobs)]):
            f.write("$ " + " ".join(cmd) + "\n")
            f.flush()
            if subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env).returncode != 0:
                tail = log.read_text().splitlines()[-15:]
                raise BuildError(f"build failed ({log}):\n" + "\n".join(tail))
    return out / "harness"
