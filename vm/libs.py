"""Library builds inside the VM matrix (`scripts/matrix --libs liburing-2.9,...`): swap mode only.

The guest runs the one system-built harness; a library build adds its shared objects to the
guest under /opt/aioh/lib/<build id>/ (the real file plus its soname link, so the path the
harness's probe reads back from the loader names the release), appended to the per-boot initrd
as a second cpio archive (the kernel unpacks concatenated archives in order), and the guest's
init runs the harness with LD_LIBRARY_PATH pointing there. Builds come from libmatrix's catalog
and cache (libmatrix/fetch.py); a build that cannot be swapped in place (another soname) is a
usage error naming why, before anything boots. Each target becomes kernel x device x library:
its result file and guest work directory carry the build id, its document the label.
"""
from __future__ import annotations

import os
from pathlib import Path

from .initramfs import Image, newc

GUEST_ROOT = "opt/aioh/lib"
# The libraries a build may replace: a swap ships these files only, nothing else of the prefix.
STEMS = ("liburing.so", "libaio.so")


def guest_dir(build_id: str) -> str:
    """Where the build's shared objects live in the guest (absolute)."""
    return f"/{GUEST_ROOT}/{build_id}"


def tag(build_id: str) -> str:
    """Suffix of the target's result file and work directory ("" without a library build)."""
    return f"__{build_id}" if build_id else ""


def guest_env(build_id: str) -> dict[str, str]:
    """Job variables: the guest init runs the harness with LD_LIBRARY_PATH=$AIOH_LD_LIBRARY_PATH."""
    return {"AIOH_LD_LIBRARY_PATH": guest_dir(build_id), "AIOH_LIB_BUILD": build_id} if build_id else {}


def lib_files(lib_dir: Path) -> list[tuple[str, Path | str]]:
    """(name, real file or link target) of the build's liburing/libaio files in lib_dir: regular
    files as files, the soname links as links to a file of the same directory. A link that leaves
    the directory is refused: it would ship (and test) some other file."""
    out: list[tuple[str, Path | str]] = []
    for p in sorted(lib_dir.iterdir()):
        if not p.name.startswith(STEMS) or p.name.endswith(".so") or p.is_dir():
            continue  # the dev link (libaio.so) is for the linker, not the loader
        if p.is_symlink():
            target = os.readlink(p)
            if "/" in target:
                raise ValueError(f"{p} links outside its directory ({target})")
            out.append((p.name, target))
        else:
            out.append((p.name, p))
    if not any(isinstance(v, Path) for _, v in out):
        raise ValueError(f"no liburing/libaio shared object in {lib_dir}")
    return out


def archive(lib_dir: Path, build_id: str) -> bytes:
    """A newc cpio holding the build's shared objects under guest_dir(build_id)."""
    img = Image()
    where = guest_dir(build_id).strip("/")
    for name, v in lib_files(lib_dir):
        if isinstance(v, Path):
            img.add_file(f"{where}/{name}", v.read_bytes(), 0o755)
        else:
            img.add_symlink(f"{where}/{name}", v)
    return newc(list(img.entries.values()))


def resolve(spec: str | None, cache: Path | None = None, refresh: bool = False) -> list[tuple[str, Path]]:
    """`--libs` value -> [(build id, directory of its shared objects)] ([] for no value).
    Raises ValueError naming the problem (unknown id, no in-place swap, fetch failure)."""
    if not spec:
        return []
    from libmatrix import catalog as C, fetch as F  # only a --libs run needs the catalog
    try:
        builds = C.select(C.load(), spec)
    except C.ResolutionError as e:
        raise ValueError(str(e)) from None
    out = []
    for b in builds:
        if b.swap_reason:
            raise ValueError(f"{b.id}: {b.swap_reason} (the VM matrix runs swap builds only)")
        try:
            p = F.fetch(b, cache or F.cache_dir(), refresh)
        except Exception as e:  # noqa: BLE001 - any fetch failure ends the run before booting
            raise ValueError(f"{b.id}: fetch failed: {e}") from None
        soname = C.SYSTEM_SONAME[b.library]
        if not (p.lib / soname).exists():
            raise ValueError(f"{b.id}: {p.lib} has no {soname}: no in-place swap")
        out.append((b.id, p.lib))
    return out


def label(doc: dict, build_id: str, lib_dir: Path) -> dict:
    """Names the build in the result document (the report's library column) next to what the
    guest's probe says was loaded, and whether that file is the build's."""
    env = doc.setdefault("environment", {})
    vm = env.setdefault("vm", {})
    vm["library_build"] = f"{build_id}.swap"
    libs = env.get("libraries") or {}
    loaded = {k: (libs.get(k) or {}).get("path", "") for k in ("liburing", "libaio")}
    want = guest_dir(build_id)
    lib = build_id.split("-", 1)[0]
    env["library_matrix"] = {"build": build_id, "mode": "swap", "requested": want,
                             "host_dir": str(lib_dir),
                             "loaded_ok": bool(loaded.get(lib)) and os.path.dirname(loaded[lib]) == want}
    return doc
