"""Install the Debian packages the VM matrix needs when a tool is absent (apt-get, as root)."""
from __future__ import annotations

import os
import shutil
import subprocess

# tool (or file) -> Debian package providing it
NEEDED = {
    "qemu-system-x86_64": "qemu-system-x86",
    "/usr/share/qemu/qboot.rom": "qemu-system-data",
    "/bin/busybox": "busybox-static",
    "mkfs.ext4": "e2fsprogs",
    "mkfs.xfs": "xfsprogs",
    "mkfs.btrfs": "btrfs-progs",
    "depmod": "kmod",
    "dpkg-deb": "dpkg",
    "zstd": "zstd",
    "xz": "xz-utils",
    "objcopy": "binutils",
    "cpio": "cpio",          # only the unit tests read archives back with it
}


def missing() -> list[str]:
    out = []
    for tool, pkg in NEEDED.items():
        present = os.path.exists(tool) if tool.startswith("/") else shutil.which(
            tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
        if not present and pkg not in out:
            out.append(pkg)
    # busybox must be the static build: it runs in a guest with no libc of its own.
    if os.path.exists("/bin/busybox"):
        r = subprocess.run(["file", "-L", "/bin/busybox"], capture_output=True, text=True)
        if r.returncode == 0 and "statically linked" not in r.stdout and "busybox-static" not in out:
            out.append("busybox-static")
    return out


def ensure(log=print) -> None:
    pkgs = missing()
    if not pkgs:
        return
    if os.geteuid() != 0:
        raise RuntimeError("missing packages (install them as root): " + " ".join(pkgs))
    log("installing: " + " ".join(pkgs))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    # A fresh machine may have no package lists yet.
    subprocess.run(["apt-get", "update", "-qq"], env=env, check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", *pkgs], env=env,
                   check=True, stdout=subprocess.DEVNULL)
