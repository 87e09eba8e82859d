"""Library builds as directories: a catalog row fetched and unpacked into a prefix, or a user's.

A prefix is what `make install PREFIX=DIR` leaves: DIR/include and DIR/lib. Debian's packages
spread the files over /lib and /usr/lib/<triplet> with absolute symlinks into the real system
(libaio-dev's libaio.so -> /lib/x86_64-linux-gnu/libaio.so.1.0.x in bullseye and bookworm), so an
unpacked tree is normalised into one lib/ whose links stay inside it: a link that escaped into
/lib would silently test the system library. Packages come from vm.aptfetch's private apt
configuration (the machine's mirror, Debian's keyrings, nothing of the machine's apt touched).
"""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from vm import aptfetch
from vm import catalog as vmcatalog

from .catalog import LibBuild, load, newest_in_suite, resolve

HEADER = {"liburing": "liburing.h", "libaio": "libaio.h"}
STEM = {"liburing": "liburing.so", "libaio": "libaio.so"}
TRIPLET = "x86_64-linux-gnu"


def cache_dir() -> Path:
    """The same cache the VM matrix uses (AIOH_CACHE, else ~/.cache/aioharness)."""
    return Path(os.environ.get("AIOH_CACHE") or Path.home() / ".cache" / "aioharness")


@dataclass(frozen=True)
class Prefix:
    root: Path
    library: str
    version: str = ""   # Debian version when fetched from the catalog

    @property
    def include(self) -> Path:
        return self.root / "include"

    @property
    def lib(self) -> Path:
        """The directory holding the shared object (make install's lib/, or lib64/, lib/<triplet>/)."""
        for d in (self.root / "lib", self.root / "lib64", self.root / "lib" / TRIPLET):
            if d.is_dir() and any(d.glob(STEM[self.library] + ".*")):
                return d
        return self.root / "lib"

    def problems(self) -> list[str]:
        """What keeps this prefix from being a usable build ([] when none)."""
        out = []
        if not (self.include / HEADER[self.library]).is_file():
            out.append(f"{self.include / HEADER[self.library]} is missing")
        if not any(self.lib.glob(STEM[self.library] + ".*")):
            out.append(f"no {STEM[self.library]}.* in {self.lib}")
        for p in self.lib.glob("lib*.so*"):
            if p.is_symlink() and not p.exists():
                out.append(f"{p} is a dangling link to {os.readlink(p)}")
        return out


_MADISON: dict[tuple[str, ...], list[vmcatalog.Candidate]] = {}


def apt_candidates(apt: aptfetch.PrivateApt, packages: list[str]) -> list[vmcatalog.Candidate]:
    """(package, version, suite) of every catalog package, asked once per process: apt-cache
    over five suites' lists is slow, and every build needs the same answer."""
    wanted = tuple(sorted(set(packages) | {p for b in _catalog_builds() for p in (b.runtime, b.dev, b.uapi) if p}))
    if wanted not in _MADISON:
        r = subprocess.run(["apt-cache", "madison", *wanted], env=apt.env(),
                           capture_output=True, text=True, check=True)
        _MADISON[wanted] = vmcatalog.parse_madison(r.stdout)
    return _MADISON[wanted]


def _catalog_builds() -> list[LibBuild]:
    try:
        return load()
    except (OSError, ValueError):
        return []


def normalise(unpacked: Path, prefix: Path) -> None:
    """unpacked Debian tree -> prefix/include + prefix/lib with links kept inside prefix/lib."""
    if (unpacked / "usr/include").is_dir():
        shutil.copytree(unpacked / "usr/include", prefix / "include", symlinks=True, dirs_exist_ok=True)
    lib = prefix / "lib"
    lib.mkdir(parents=True, exist_ok=True)
    for d in (unpacked / "lib" / TRIPLET, unpacked / "usr/lib" / TRIPLET, unpacked / "lib", unpacked / "usr/lib"):
        if not d.is_dir():
            continue
        for f in d.iterdir():
            if not f.name.startswith("lib") or ".so" not in f.name or f.is_dir():
                continue
            dst = lib / f.name
            if dst.exists() or dst.is_symlink():
                dst.unlink()
            if f.is_symlink():
                # Every file lands in the one lib/, so the target's base name is the target.
                dst.symlink_to(Path(os.readlink(f)).name)
            else:
                shutil.copy2(f, dst)


def fetch(build: LibBuild, cache: Path | None = None, refresh: bool = False) -> Prefix:
    """The unpacked prefix of a catalog build, fetched once and kept under <cache>/libs/."""
    if build.prefix:
        return Prefix(Path(build.prefix), build.library)
    cache = cache or cache_dir()
    apt = aptfetch.PrivateApt(cache / "apt")
    apt.update(refresh)
    version, _ = resolve(build, apt_candidates(apt, [build.runtime, build.dev]))
    where = cache / "libs" / f"{build.id}_{version}"
    prefix = Prefix(where / "prefix", build.library, version)
    done = (where / ".complete").exists() and (not build.uapi or (where / "uapi-version").exists())
    if done and not refresh:
        return prefix
    shutil.rmtree(where, ignore_errors=True)
    unpacked = where / "unpacked"
    unpacked.mkdir(parents=True)
    for pkg in (build.runtime, build.dev):
        deb = apt.download(f"{pkg}={version}", where / "debs")
        subprocess.run(["dpkg-deb", "-x", str(deb), str(unpacked)], check=True)
    normalise(unpacked, prefix.root)
    if build.uapi:
        # liburing >= 2.9's compat.h includes <linux/blkdev.h> (uapi since Linux 6.x) while
        # liburing-dev declares only linux-libc-dev >= 5.1: a rebuild needs the suite's linux/ headers.
        uv = newest_in_suite(build.uapi, build.suite, apt_candidates(apt, [build.uapi]))
        deb = apt.download(f"{build.uapi}={uv}", where / "debs")
        subprocess.run(["dpkg-deb", "-x", str(deb), str(where / "uapi")], check=True)
        shutil.copytree(where / "uapi/usr/include/linux", prefix.include / "linux", dirs_exist_ok=True)
        (where / "uapi-version").write_text(f"{build.uapi} {uv}\n")
    bad = prefix.problems()
    if bad:
        raise RuntimeError(f"{build.id}: unpacked prefix unusable: {'; '.join(bad)}")
    (where / ".complete").write_text(version + "\n")
    return prefix
