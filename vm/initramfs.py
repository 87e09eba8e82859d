"""The guest image: an uncompressed newc cpio with busybox, the harness and its libraries, the
cases, the mkfs tools and the kernel modules the cases need (decompressed: busybox insmod cannot
load .ko.xz/.ko.zst).

An image is cached under a hash of everything that goes into it.  Per-boot data (the ids still to
run, the device) goes in a tiny second archive appended to it: the kernel unpacks concatenated
cpio archives in order.
"""
from __future__ import annotations

import hashlib
import lzma
import os
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

INIT = Path(__file__).parent / "guest" / "init.sh"
BUSYBOX = "/bin/busybox"
HARNESS_IN_GUEST = "/opt/aioh/bin/harness"
CASES_IN_GUEST = "/opt/aioh/cases"     # where the harness looks by default: <exe dir>/../cases

# Loaded at boot, in this order (each with its dependencies first).  A name that is built into
# a kernel (modules.builtin) or absent from it is skipped: support is decided by the probe.
BOOT_MODULES = ["virtio_pci", "virtio_console", "virtio_blk", "nvme", "ext4"]
# Shipped for the init (the scratch filesystem) and for cases to modprobe with their own
# parameters (loop and device-mapper fault/latency targets, null_blk, scsi_debug), and fuse for
# the fuse fault layer (built in from 6.x on Debian, a module on 5.10).
EXTRA_MODULES = ["xfs", "btrfs", "loop", "fuse", "dm_mod", "dm_flakey", "dm_delay", "dm_dust",
                 "null_blk", "scsi_debug", "sd_mod", "nvme_core"]
TOOLS = ["mkfs.ext4", "mkfs.xfs", "mkfs.btrfs", "blkid", "losetup", "dmsetup"]


# ---- modules -------------------------------------------------------------------------------

def modname(path: str) -> str:
    base = path.rsplit("/", 1)[-1]
    return re.sub(r"\.ko(\.(xz|zst|gz))?$", "", base).replace("-", "_")


def parse_modules_dep(text: str) -> dict[str, tuple[str, list[str]]]:
    """name -> (relative path, [dependency names]) from a modules.dep."""
    out = {}
    for line in text.splitlines():
        if ":" not in line:
            continue
        path, _, deps = line.partition(":")
        out[modname(path)] = (path.strip(), [modname(d) for d in deps.split()])
    return out


def parse_softdeps(text: str) -> dict[str, list[str]]:
    """name -> modules to load before it (`softdep X pre: a b post: c`; only pre: matters)."""
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        w = line.split()
        if len(w) < 3 or w[0] != "softdep":
            continue
        pre, mode = [], None
        for tok in w[2:]:
            if tok in ("pre:", "post:"):
                mode = tok
            elif mode == "pre:":
                pre.append(tok.replace("-", "_"))
        out[w[1].replace("-", "_")] = pre
    return out


def parse_aliases(text: str) -> dict[str, list[str]]:
    """alias -> module names, from modules.alias (softdeps name aliases such as crypto-crc32c)."""
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        w = line.split()
        if len(w) == 3 and w[0] == "alias" and "*" not in w[1]:
            out.setdefault(w[1].replace("-", "_"), []).append(w[2].replace("-", "_"))
    return out


def load_order(wanted: list[str], deps: dict[str, tuple[str, list[str]]],
               soft: dict[str, list[str]] | None = None,
               aliases: dict[str, list[str]] | None = None) -> list[str]:
    """Every wanted module present in deps, dependencies (hard, then soft pre:) first, once each.
    A soft dependency naming an alias loads every module providing it."""
    soft = soft or {}
    aliases = aliases or {}
    order: list[str] = []
    seen: set[str] = set()

    def visit(m: str) -> None:
        if m in seen or m not in deps:
            return
        seen.add(m)
        for s in soft.get(m, []):
            for target in ([s] if s in deps else aliases.get(s, [])):
                visit(target)
        # modules.dep lists the full closure; the last entry is loaded first.
        for d in reversed(deps[m][1]):
            visit(d)
        order.append(m)

    for w in wanted:
        visit(w.replace("-", "_"))
    return order


def decompress_module(path: Path) -> bytes:
    data = path.read_bytes()
    if path.suffix == ".xz":
        return lzma.decompress(data)
    if path.suffix == ".zst":
        return subprocess.run(["zstd", "-dcq", str(path)], capture_output=True, check=True).stdout
    if path.suffix == ".gz":
        import gzip
        return gzip.decompress(data)
    return data


# ---- ELF files and their libraries -----------------------------------------------------------

def parse_ldd(text: str) -> list[str]:
    """Absolute library paths from `ldd` output (the loader included, vdso excluded)."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        m = re.match(r"\S+ => (/\S+) \(0x", line) or re.match(r"(/\S+) \(0x", line)
        if m:
            out.append(m.group(1))
    return out


def libraries(binaries: list[str]) -> list[str]:
    libs: list[str] = []
    for b in binaries:
        r = subprocess.run(["ldd", b], capture_output=True, text=True)
        for lib in parse_ldd(r.stdout):
            if lib not in libs:
                libs.append(lib)
    return libs


# ---- cpio ------------------------------------------------------------------------------------

@dataclass
class Entry:
    path: str                  # inside the image, without leading '/'
    mode: int                  # full st_mode (type bits included)
    data: bytes = b""


@dataclass
class Image:
    entries: dict[str, Entry] = field(default_factory=dict)

    def add_dir(self, path: str) -> None:
        path = path.strip("/")
        parts = path.split("/")
        for i in range(1, len(parts) + 1):
            p = "/".join(parts[:i])
            if p and p not in self.entries:
                self.entries[p] = Entry(p, 0o040755)

    def add_file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        path = path.strip("/")
        if "/" in path:
            self.add_dir(path.rsplit("/", 1)[0])
        self.entries[path] = Entry(path, 0o100000 | mode, data)

    def add_symlink(self, path: str, target: str) -> None:
        path = path.strip("/")
        if "/" in path:
            self.add_dir(path.rsplit("/", 1)[0])
        self.entries[path] = Entry(path, 0o120777, target.encode())

    def add_host_file(self, host: str, path: str | None = None) -> None:
        """Copy a host file's content (symlinks followed) to the same or the given path."""
        st = os.stat(host)
        self.add_file(path or host, Path(host).read_bytes(), st.st_mode & 0o7777)

    def paths(self) -> set[str]:
        return set(self.entries)


def newc(entries: list[Entry]) -> bytes:
    """A newc cpio archive (what the kernel's initramfs unpacker reads), deterministic."""
    out = bytearray()

    def put(name: str, mode: int, data: bytes, ino: int) -> None:
        nb = name.encode() + b"\0"
        hdr = "070701" + "".join(f"{v:08x}" for v in (
            ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nb), 0))
        out.extend(hdr.encode() + nb)
        out.extend(b"\0" * (-len(out) % 4))
        out.extend(data)
        out.extend(b"\0" * (-len(out) % 4))

    for i, e in enumerate(sorted(entries, key=lambda e: e.path), start=1):
        put(e.path, e.mode, e.data, i)
    put("TRAILER!!!", 0, b"", 0)
    return bytes(out)


# ---- assembling ------------------------------------------------------------------------------

def stripped(binary: Path) -> bytes:
    """The binary without debug sections (a RelWithDebInfo harness is ~30 MB, ~3 MB stripped):
    a smaller initramfs loads and unpacks faster under TCG.  Unchanged if objcopy is absent."""
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "bin"
        r = subprocess.run(["objcopy", "--strip-debug", str(binary), str(out)], capture_output=True)
        return out.read_bytes() if r.returncode == 0 and out.exists() else binary.read_bytes()


def add_library(img: Image, lib: str) -> None:
    """A library under its real file name with the loader's name as a link to it, as on the
    host (liburing.so.2 -> liburing.so.2.3): the harness reads its version from the name of
    the file it really loaded."""
    real = os.path.realpath(lib)
    if os.path.dirname(real) == os.path.dirname(os.path.realpath(os.path.dirname(lib) + "/.")) \
            and os.path.basename(real) != os.path.basename(lib):
        img.add_host_file(real, os.path.join(os.path.dirname(lib), os.path.basename(real)))
        img.add_symlink(lib, os.path.basename(real))
    else:
        img.add_host_file(lib)


def add_dpkg_records(img: Image, files: list[str]) -> None:
    """The host's dpkg records (`info/<pkg>.list`, `status`) of the packages owning the
    harness's libraries, so that the guest's probe names a library by its package version
    exactly as on the host (libaio.so.1.0.2 is libaio1 0.3.113). Nothing where dpkg is not."""
    owners: dict[str, list[str]] = {}
    info = Path("/var/lib/dpkg/info")
    if not info.is_dir():
        return
    wanted = {f: f for f in files}
    wanted.update({"/usr" + f: f for f in files if f.startswith("/lib/")})
    wanted.update({f[4:]: f for f in files if f.startswith("/usr/lib/")})
    for lst in sorted(info.glob("*.list")):
        for line in lst.read_text(errors="replace").splitlines():
            if line in wanted:
                owners.setdefault(lst.stem, []).append(line)
    if not owners:
        return
    names = {o.split(":")[0] for o in owners}
    stanzas = []
    for stanza in Path("/var/lib/dpkg/status").read_text(errors="replace").split("\n\n"):
        fields = dict(line.split(": ", 1) for line in stanza.splitlines() if ": " in line and line[0] != " ")
        if fields.get("Package") in names and "Version" in fields:
            stanzas.append(f"Package: {fields['Package']}\nStatus: install ok installed\n"
                           f"Architecture: {fields.get('Architecture', '')}\nVersion: {fields['Version']}\n")
    for pkg, lines in owners.items():
        img.add_file(f"var/lib/dpkg/info/{pkg}.list", ("\n".join(lines) + "\n").encode())
    img.add_file("var/lib/dpkg/status", "\n".join(stanzas).encode())


def tool_paths(tools: list[str]) -> list[str]:
    found = []
    for t in tools:
        p = shutil.which(t, path="/usr/sbin:/sbin:/usr/bin:/bin")
        if p:
            found.append(p)
    return found


def build_image(harness: Path, cases: Path, moddir: Path | None, abi: str,
                cases_guest_path: str) -> Image:
    img = Image()
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "tmp", "run", "etc",
              "mnt/scratch", "job", "etc/aioh", "root"):
        img.add_dir(d)
    img.add_host_file(BUSYBOX, "bin/busybox")
    img.add_file("init", INIT.read_bytes(), 0o755)
    img.add_file(HARNESS_IN_GUEST, stripped(harness), 0o755)
    tools = tool_paths(TOOLS)
    for t in tools:
        img.add_host_file(t)
    for lib in libraries([str(harness)] + tools):
        add_library(img, lib)
    add_dpkg_records(img, [os.path.realpath(lib) for lib in libraries([str(harness)])])
    for f in ("/etc/mke2fs.conf", "/etc/os-release", "/usr/lib/os-release"):
        if os.path.exists(f):
            img.add_host_file(f)
    img.add_file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
    img.add_file("etc/group", b"root:x:0:\nnogroup:x:65534:\n")
    for f in sorted(cases.rglob("*")):
        if f.is_file():
            img.add_file(f"{cases_guest_path.strip('/')}/{f.relative_to(cases)}", f.read_bytes())
    load = []
    if moddir is not None:
        deps = parse_modules_dep((moddir / "modules.dep").read_text())
        soft_file = moddir / "modules.softdep"
        soft = parse_softdeps(soft_file.read_text()) if soft_file.exists() else {}
        alias_file = moddir / "modules.alias"
        aliases = parse_aliases(alias_file.read_text()) if alias_file.exists() else {}
        boot = load_order(BOOT_MODULES, deps, soft, aliases)
        ship = load_order(BOOT_MODULES + EXTRA_MODULES, deps, soft, aliases)
        dep_lines = []
        for m in ship:
            rel = re.sub(r"\.(xz|zst|gz)$", "", deps[m][0])
            img.add_file(f"lib/modules/{abi}/{rel}", decompress_module(moddir / deps[m][0]))
            dep_rels = [re.sub(r"\.(xz|zst|gz)$", "", deps[d][0]) for d in deps[m][1] if d in deps]
            dep_lines.append(f"{rel}: {' '.join(dep_rels)}".rstrip())
            if m in boot:
                load.append(rel)
        img.add_file(f"lib/modules/{abi}/modules.dep", ("\n".join(dep_lines) + "\n").encode())
        for f in ("modules.builtin", "modules.order", "modules.alias", "modules.softdep"):
            if (moddir / f).exists():
                img.add_file(f"lib/modules/{abi}/{f}", (moddir / f).read_bytes())
    img.add_file("etc/aioh/modules.load", ("\n".join(load) + "\n").encode())
    return img


def image_key(harness: Path, cases: Path, moddir: Path | None, abi: str) -> str:
    """Hash of what determines the image (inputs, not the archive: cheap to compute)."""
    h = hashlib.sha256()
    for f in [INIT, Path(__file__), Path(BUSYBOX), harness]:       # content, wherever it lives
        h.update(hashlib.sha256(f.read_bytes()).digest())
    for f in sorted(p for p in cases.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(cases)).encode())
        h.update(hashlib.sha256(f.read_bytes()).digest())
    for t in tool_paths(TOOLS):
        st = os.stat(t)
        h.update(f"{t}:{st.st_size}:{st.st_mtime_ns}".encode())
    h.update(f"{moddir}:{abi}".encode())
    if moddir is not None and (moddir / "modules.dep").exists():
        h.update((moddir / "modules.dep").read_bytes())
    return h.hexdigest()[:24]


def cached_image(cache: Path, harness: Path, cases: Path, moddir: Path | None, abi: str,
                 cases_guest_path: str) -> Path:
    key = image_key(harness, cases, moddir, abi)
    out = cache / "images" / f"{abi}-{key}.cpio"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        img = build_image(harness, cases, moddir, abi, cases_guest_path)
        # Parallel jobs may build the same image: each writes its own file, rename is atomic.
        tmp = out.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_bytes(newc(list(img.entries.values())))
        tmp.rename(out)
    return out


def job_archive(env: dict[str, str], ids: list[str], more: dict[str, list[str]] | None = None) -> bytes:
    """The per-boot archive: /job/env (shell assignments), /job/ids and, per further part (the
    rows that run alone, each device-fault part), /job/<name> (its ids)."""
    lines = "".join(f"{k}={shell_quote(v)}\n" for k, v in sorted(env.items()))
    img = Image()
    img.add_file("job/env", lines.encode())
    for name, some in {"ids": ids, **(more or {})}.items():
        img.add_file(f"job/{name}", ("\n".join(some) + "\n").encode() if some else b"")
    return newc(list(img.entries.values()))


def shell_quote(s: str) -> str:
    return "'" + s.replace("'", "'\\''") + "'"


def boot_initrd(base: Path, job: bytes, dest: Path) -> Path:
    with open(dest, "wb") as out, open(base, "rb") as src:
        shutil.copyfileobj(src, out, 1 << 20)
        out.write(job)
    return dest
