"""A kernel ready to boot: fetched (or user-supplied), unpacked, depmod'ed, vmlinux extracted.

Handles both Debian layouts: the classic one package (`/boot/vmlinuz-<abi>` plus
`/lib/modules/<abi>`) and the 7.x split into image (metapackage), binary (`vmlinuz`), modules and
base (`config`, `System.map`) packages under `/usr/lib/modules/<abi>`.
"""
from __future__ import annotations

import gzip
import json
import lzma
import os
import shutil
import subprocess
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path

from . import aptfetch, catalog

SPLIT_DEPS = ("linux-binary-", "linux-modules-", "linux-base-")


@dataclass
class Kernel:
    name: str            # package name, or the user's file name
    version: str         # Debian package version, or "" for a user kernel
    abi: str             # uname -r of the kernel, e.g. 6.1.0-50-amd64
    bzimage: Path
    moddir: Path | None  # .../lib/modules/<abi>, depmod'ed
    root: Path           # unpack root (cache dir of this kernel)

    @property
    def label(self) -> str:
        return f"{self.name}={self.version}" if self.version else self.name

    def vmlinux(self) -> Path | None:
        """The uncompressed ELF, extracted once and cached next to the unpacked tree."""
        out = self.root / "vmlinux"
        if not out.exists():
            data = extract_vmlinux(self.bzimage.read_bytes())
            if data is None:
                return None
            tmp = out.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_bytes(data)
            tmp.rename(out)   # atomic: a parallel job never boots a half-written file
        return out

    def to_json(self) -> dict:
        return {"package": self.name, "version": self.version, "release": self.abi}


def split_deps(depends: str, abi: str) -> list[str]:
    """Packages of the 7.x split layout named in an image package's Depends (same ABI)."""
    out = []
    for alt in depends.split(","):
        name = alt.strip().split("|")[0].split()[0] if alt.strip() else ""
        if name.startswith(SPLIT_DEPS) and name.endswith(abi):
            out.append(name)
    return out


def find_layout(root: Path, abi: str) -> tuple[Path | None, Path | None]:
    """(vmlinuz, modules dir) in either layout; trixie puts /boot and /usr/lib/modules together."""
    boot = next((p for p in (root / f"boot/vmlinuz-{abi}", root / f"usr/lib/modules/{abi}/vmlinuz")
                 if p.exists()), None)
    mods = next((p for p in (root / f"lib/modules/{abi}", root / f"usr/lib/modules/{abi}")
                 if (p / "kernel").is_dir()), None)
    return boot, mods


def run_depmod(moddir: Path, abi: str) -> None:
    """depmod -b wants <base>/lib/modules/<abi>; give it one that points at the real dir."""
    base = moddir.parent.parent.parent / ".depmod-base"
    link = base / "lib/modules" / abi
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.exists():
        link.symlink_to(moddir.resolve())
    subprocess.run(["depmod", "-b", str(base), abi], check=True, capture_output=True, text=True)


# Magic of each compressor the kernel's boot wrapper may use, with how to undo it.
def _gunzip(b: bytes) -> bytes:
    return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(b)


def _unxz(b: bytes) -> bytes:
    return lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(b)


def _unlzma(b: bytes) -> bytes:
    return lzma.LZMADecompressor(format=lzma.FORMAT_ALONE).decompress(b)


def _unzstd(b: bytes) -> bytes:
    r = subprocess.run(["zstd", "-dcq"], input=b, capture_output=True)
    return r.stdout


COMPRESSORS = [(b"\x1f\x8b\x08", _gunzip), (b"\xfd7zXZ\x00", _unxz),
               (b"\x28\xb5\x2f\xfd", _unzstd), (b"\x5d\x00\x00", _unlzma)]


def extract_vmlinux(bz: bytes) -> bytes | None:
    """Find the compressed payload inside a bzImage and return the ELF it holds.

    Like the kernel's scripts/extract-vmlinux: try each compressor at each offset where its
    magic occurs, and accept the first output that is an ELF file."""
    if bz[:4] == b"\x7fELF":
        return bz
    for magic, fn in COMPRESSORS:
        at = bz.find(magic)
        while at != -1:
            try:
                out = fn(bz[at:])
            except (lzma.LZMAError, zlib.error, EOFError, gzip.BadGzipFile):
                out = b""
            if out[:4] == b"\x7fELF":
                return out
            at = bz.find(magic, at + 1)
    return None


def fetch(spec: catalog.KernelSpec, cache: Path, refresh: bool = False,
          log=lambda s: None, refresh_lists: bool | None = None) -> Kernel:
    """Resolve a series to a package, download and unpack it (and its split parts) once.
    refresh: re-download the kernel; refresh_lists (default: refresh): re-read the archive."""
    apt = aptfetch.PrivateApt(cache / "apt")
    cand = resolved(apt, spec.series, cache, refresh if refresh_lists is None else refresh_lists)
    log(f"{spec.series}: {cand.package} {cand.version} ({cand.suite})")
    kdir = cache / "kernels" / f"{cand.package}_{cand.version}"
    done = kdir / "unpacked.json"
    if done.exists() and not refresh:
        meta = json.loads(done.read_text())
        return _kernel_from(kdir, cand.package, cand.version, meta["abi"])
    if kdir.exists():
        shutil.rmtree(kdir)
    debs = kdir / "debs"
    image = apt.download(f"{cand.package}={cand.version}", debs)
    depends = subprocess.run(["dpkg-deb", "-f", str(image), "Depends"], capture_output=True,
                             text=True, check=True).stdout
    for dep in split_deps(depends, cand.abi):
        # Some images name a part the archive no longer carries (6.18 backports: linux-base);
        # a part that matters is checked below by finding the kernel and its modules.
        try:
            apt.download(f"{dep}={cand.version}", debs)
        except subprocess.CalledProcessError:
            log(f"{spec.series}: {dep}={cand.version} not downloadable; continuing without it")
    return unpack_debs(kdir, sorted(debs.glob("*.deb")), cand.package, cand.version, cand.abi)


def resolved(apt: aptfetch.PrivateApt, series: str, cache: Path, refresh: bool) -> catalog.Candidate:
    """Series -> package.  What apt offers is remembered in <cache>/candidates.json until
    --refresh: asking apt about every linux-image package takes tens of seconds on a busy host."""
    memo = cache / "candidates.json"
    if memo.exists() and not refresh:
        cands = [catalog.Candidate(*c) for c in json.loads(memo.read_text())]
    else:
        apt.update(refresh=refresh)
        names = [n for n in apt.pkgnames("linux-image-") if catalog.IMAGE_RE.match(n)]
        r = subprocess.run(["apt-cache", "madison", *names], env=apt.env(), capture_output=True,
                           text=True, check=True)
        cands = catalog.parse_madison(r.stdout)
        memo.write_text(json.dumps([[c.package, c.version, c.suite] for c in cands], indent=1) + "\n")
    return catalog.resolve(series, cands)


def unpack_debs(kdir: Path, debs: list[Path], name: str, version: str, abi: str) -> Kernel:
    root = kdir / "root"
    root.mkdir(parents=True, exist_ok=True)
    for deb in debs:
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    if not abi:
        abi = guess_abi(root)
    k = _kernel_from(kdir, name, version, abi)
    if k.moddir:
        run_depmod(k.moddir, abi)
    (kdir / "unpacked.json").write_text(json.dumps({"abi": abi}))
    for deb in debs:
        if deb.parent == kdir / "debs":
            deb.unlink()   # the unpacked tree is the cache; the .debs are not needed again
    return k


def guess_abi(root: Path) -> str:
    for d in (root / "lib/modules", root / "usr/lib/modules"):
        if d.is_dir():
            for sub in sorted(d.iterdir()):
                return sub.name
    for f in sorted((root / "boot").glob("vmlinuz-*")):
        return f.name[len("vmlinuz-"):]
    raise LookupError(f"no kernel found under {root}")


def _kernel_from(kdir: Path, name: str, version: str, abi: str) -> Kernel:
    bz, mods = find_layout(kdir / "root", abi)
    if bz is None:
        raise FileNotFoundError(f"no vmlinuz for {abi} under {kdir / 'root'}")
    return Kernel(name, version, abi, bz, mods, kdir)


def from_deb(deb: Path, cache: Path) -> Kernel:
    """--kernel-deb: a linux-image .deb the user brings (classic layout, or with its parts)."""
    kdir = cache / "kernels" / f"user-{deb.stem}"
    if (kdir / "unpacked.json").exists():
        meta = json.loads((kdir / "unpacked.json").read_text())
        return _kernel_from(kdir, deb.stem, "", meta["abi"])
    return unpack_debs(kdir, [deb], deb.stem, "", "")


def from_image(image: Path, modules: Path | None, cache: Path) -> Kernel:
    """--kernel-image bzImage [--modules DIR]: DIR is a lib/modules/<release> directory."""
    kdir = cache / "kernels" / f"user-{image.name}-{image.stat().st_size}"
    kdir.mkdir(parents=True, exist_ok=True)
    abi = modules.name if modules else image.name
    return Kernel(image.name, "", abi, image, modules, kdir)
