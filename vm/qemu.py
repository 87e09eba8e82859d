"""QEMU argv, built by small pure functions with one concern each, and the KVM probe.

Every function returns a list of arguments; `vm_argv` only concatenates.  The probe decides KVM
by running guest code under it (a boot sector that writes to isa-debug-exit) with the guests' own
accelerator and CPU arguments, because on some hosts /dev/kvm opens fine but cannot run an
ordinary guest.
"""
from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

QEMU = "qemu-system-x86_64"
QBOOT = "/usr/share/qemu/qboot.rom"
RESULT_PORT = "aioh.result"

@dataclass(frozen=True)
class Geometry:
    """One emulated disk geometry (a --devices column): the driver, the logical and physical
    block sizes, and for NVMe the controller's MDTS (max transfer = 2^mdts x 4 KiB pages;
    None: QEMU's default, 7 = 512 KiB)."""
    driver: str
    logical: int
    physical: int
    mdts: int | None = None

    def to_json(self) -> dict:
        return {"driver": self.driver, "logical_block_size": self.logical,
                "physical_block_size": self.physical, "mdts": self.mdts}


# Names are what --devices takes; a name says the driver and what differs from 512/512.
DEVICES = {
    "nvme-512": Geometry("nvme", 512, 512),
    "nvme-4k": Geometry("nvme", 4096, 4096),
    # 512-byte logical over 4 KiB physical blocks (512e): O_DIRECT follows the logical size,
    # mkfs.xfs takes its sector size from the physical one.
    "nvme-512e": Geometry("nvme", 512, 4096),
    # A small maximum transfer (8 KiB): the block layer splits every larger request.
    "nvme-mdts": Geometry("nvme", 512, 512, mdts=1),
    "virtio-512": Geometry("virtio-blk-pci", 512, 512),
    "virtio-4k": Geometry("virtio-blk-pci", 4096, 4096),
}

# Older names --devices still takes (CI definitions use them).
ALIASES = {"virtio": "virtio-512"}


def guest_disk(device: str, index: int) -> str:
    """How the guest names disk `index` (0 = the first) of a geometry: NVMe namespaces of one
    controller (nvme0n1, nvme0n2, ...), virtio-blk disks in PCI order (vda, vdb, ...)."""
    if DEVICES[device].driver == "nvme":
        return f"nvme0n{index + 1}"
    return "vd" + "abcdefghijklmnopqrstuvwxyz"[index]


@dataclass(frozen=True)
class BootPath:
    """How the kernel is entered: `bzimage` through the firmware's linuxboot, or `pvh` (ELF
    vmlinux entered directly); `firmware` is 'seabios' (QEMU's default) or 'qboot'."""
    image: str = "bzimage"
    firmware: str = "seabios"

    @property
    def name(self) -> str:
        return f"{self.image}+{self.firmware}"


BOOT_PATHS = [BootPath("pvh", "qboot"), BootPath("bzimage", "qboot"),
              BootPath("pvh", "seabios"), BootPath("bzimage", "seabios")]


@dataclass
class VmConfig:
    kernel: Path                      # bzImage or vmlinux, matching boot.image
    initrd: Path
    console_log: Path
    result_file: Path
    disk: Path | None = None          # the first disk (scratch filesystem, or the faulty disk)
    device: str | None = None         # key of DEVICES
    extra_disks: tuple[Path | Disk, ...] = ()  # more disks of the same geometry (sweep targets, fault parts)
    boot: BootPath = field(default_factory=BootPath)
    accel: str = "tcg"
    memory_mb: int = 2048
    cpus: int = 2
    cmdline_extra: tuple[str, ...] = ()
    monitor: Path | None = None       # a HMP socket, for the test-only panic injection
    blkdebug: Path | None = None      # blkdebug config: device-level faults on the disk
    throttle_iops: int | None = None  # a slow disk: QEMU's I/O throttling caps its requests/s


def accel_args(accel: str, cpus: int = 1) -> list[str]:
    if accel == "kvm":
        return ["-accel", "kvm", "-cpu", "host"]
    # One translation-block cache big enough for a whole boot; `max` exposes every CPU
    # feature TCG emulates so the guest kernel takes its ordinary paths.  With more than one
    # vCPU, one host thread per vCPU (MTTCG), so the vCPUs run in parallel.
    threads = ",thread=multi" if cpus > 1 else ""
    return ["-accel", f"tcg,tb-size=256{threads}", "-cpu", "max"]


def machine_args(memory_mb: int, cpus: int) -> list[str]:
    return ["-M", "q35", "-m", str(memory_mb), "-smp", str(cpus)]


def firmware_args(boot: BootPath) -> list[str]:
    return ["-bios", QBOOT] if boot.firmware == "qboot" else []


def quiet_args() -> list[str]:
    """No display, no default devices, never reboot: a guest reboot (panic=-1) ends QEMU."""
    return ["-nodefaults", "-display", "none", "-no-reboot", "-no-user-config"]


def console_args(console_log: Path) -> list[str]:
    return ["-chardev", f"file,id=con,path={console_log}", "-serial", "chardev:con"]


def result_channel_args(result_file: Path) -> list[str]:
    return ["-device", "virtio-serial-pci,id=vser",
            "-chardev", f"file,id=res,path={result_file}",
            "-device", f"virtserialport,bus=vser.0,chardev=res,name={RESULT_PORT}"]


def monitor_args(sock: Path | None) -> list[str]:
    return ["-monitor", f"unix:{sock},server=on,wait=off"] if sock else []


def kernel_cmdline(extra: tuple[str, ...] = ()) -> str:
    # panic=-1 reboots at once on a panic, which -no-reboot turns into QEMU exiting;
    # oops=panic makes an oops end the run rather than leave a half-dead kernel;
    # no_timer_check: under TCG on a loaded host the IO-APIC timer check can miss ticks and
    # panic "IO-APIC + timer doesn't work!" at boot (seen with 6.1 and two guests on 2 cores).
    # lsm=: Debian's CONFIG_LSM plus bpf, so the BPF LSM fault layer (harness/faults/lsm.cc) runs
    # on every series: 5.10's CONFIG_LSM lacks bpf; names a kernel lacks are ignored
    # (security/security.c ordered_lsm_parse()), and apparmor stays the one exclusive LSM.
    base = ["console=ttyS0", "panic=-1", "oops=panic", "loglevel=4", "rdinit=/init", "no_timer_check",
            "random.trust_cpu=on", "mitigations=off", "nokaslr", "i8042.noaux", "i8042.nokbd",
            "lsm=landlock,lockdown,yama,loadpin,safesetid,integrity,apparmor,selinux,smack,tomoyo,bpf,ipe"]
    return " ".join(base + list(extra))


def kernel_args(kernel: Path, initrd: Path, cmdline: str) -> list[str]:
    return ["-kernel", str(kernel), "-initrd", str(initrd), "-append", cmdline]


@dataclass(frozen=True)
class Disk:
    """An extra disk whose image sits behind blkdebug (a fault part's rules) or is throttled."""
    path: Path
    blkdebug: Path | None = None
    throttle_iops: int | None = None


def drive_arg(disk: Path | Disk, i: int) -> list[str]:
    if isinstance(disk, Disk):
        a = drive_arg(disk.path, i)
        if disk.blkdebug:
            a = faulty_drive(a, disk.path, disk.blkdebug)
        return throttled(a, disk.throttle_iops)
    return ["-drive", f"file={disk},if=none,id=d{i},format=raw,cache=unsafe,aio=threads"]


def disk_args(disk: Path, device: str, extra: tuple[Path | Disk, ...] = ()) -> list[str]:
    """The first disk, then `extra` disks of the same geometry: for NVMe one controller (its
    own namespace 1 on the first disk) and a namespace per extra disk, else one device each."""
    g = DEVICES[device]
    sizes = f"logical_block_size={g.logical},physical_block_size={g.physical}"
    a = drive_arg(disk, 0)
    if g.driver == "nvme":
        mdts = f",mdts={g.mdts}" if g.mdts is not None else ""
        a += ["-device", f"nvme,drive=d0,serial=aioh0,id=nvme0,{sizes}{mdts}"]
        for i, d in enumerate(extra, start=1):
            a += drive_arg(d, i) + ["-device", f"nvme-ns,drive=d{i},bus=nvme0,nsid={i + 1},{sizes}"]
        return a
    a += ["-device", f"{g.driver},drive=d0,{sizes}"]
    for i, d in enumerate(extra, start=1):
        a += drive_arg(d, i) + ["-device", f"{g.driver},drive=d{i},{sizes}"]
    return a


@dataclass(frozen=True)
class DeviceFault:
    """One blkdebug rule: fail the `event` (read_aio, write_aio, flush_to_disk, ...) with an errno
    name, optionally at one sector and only once.  QEMU's blkdebug config takes the number."""
    event: str
    errno: str
    sector: int | None = None
    once: bool = True

    @staticmethod
    def parse(text: str) -> "DeviceFault":
        """`EVENT:ERRNO[:sector=N][:always]`, e.g. `read_aio:EIO:sector=4096`."""
        parts = text.split(":")
        if len(parts) < 2:
            raise ValueError(f"device fault {text!r}: want EVENT:ERRNO[:sector=N][:always]")
        sector, once = None, True
        for p in parts[2:]:
            if p.startswith("sector="):
                sector = int(p[len("sector="):])
            elif p == "always":
                once = False
            else:
                raise ValueError(f"device fault {text!r}: unknown part {p!r}")
        return DeviceFault(parts[0], parts[1], sector, once)

    def text(self) -> str:
        """The inverse of parse; also how the harness names the rule (faults::DeviceRule::text)."""
        return ":".join([self.event, self.errno] + ([f"sector={self.sector}"] if self.sector is not None else [])
                        + ([] if self.once else ["always"]))


# A rule activated by its event stays active for every request type unless `iotype` narrows it
# (QEMU block/blkdebug.c rule_check): without it an active read rule would also fail writes.
IOTYPE = {"read_aio": "read", "write_aio": "write", "flush_to_disk": "flush"}


def blkdebug_config(faults: list[DeviceFault]) -> str:
    import errno as errno_mod
    out = []
    for f in faults:
        num = getattr(errno_mod, f.errno, None)
        if not isinstance(num, int):
            raise ValueError(f"unknown errno name {f.errno}")
        out += ["[inject-error]", f'event = "{f.event}"', f'errno = "{num}"']
        if f.sector is not None:
            out.append(f'sector = "{f.sector}"')
        out.append(f'once = "{"on" if f.once else "off"}"')
        if f.event in IOTYPE:
            out.append(f'iotype = "{IOTYPE[f.event]}"')
        out.append("")
    return "\n".join(out)


def faulty_disk_args(disk: Path, device: str, config: Path) -> list[str]:
    """disk_args with the image behind QEMU's blkdebug driver, which applies `config`."""
    return faulty_drive(disk_args(disk, device), disk, config)


def faulty_drive(args: list[str], disk: Path, config: Path) -> list[str]:
    """The first -drive of `args` (the one of `disk`) behind blkdebug with `config`."""
    a = list(args)
    i = a.index("-drive") + 1
    a[i] = a[i].replace(f"file={disk},", f"file.driver=blkdebug,file.config={config},"
                                         f"file.image.filename={disk},", 1)
    # cache=unsafe ignores guest flushes above the driver (block/io.c bdrv_co_flush, BDRV_O_NO_FLUSH),
    # so a flush rule would never see one: honour them on a faulty disk.
    a[i] = a[i].replace("cache=unsafe", "cache=writeback")
    return a


@dataclass(frozen=True)
class Throttle:
    """A slow disk: QEMU's block throttling (docs/throttle.txt, `throttling.iops-total`) holds
    requests past `iops` per second in QEMU, so a guest request stays in flight at the device."""
    iops: int
    once = False

    def text(self) -> str:
        return f"throttle:iops={self.iops}"


def throttled(args: list[str], iops: int | None) -> list[str]:
    """disk args with the drive's request rate capped (unchanged when iops is None)."""
    if not iops:
        return args
    a = list(args)
    i = a.index("-drive") + 1
    a[i] += f",throttling.iops-total={iops}"
    return a


def vm_argv(c: VmConfig) -> list[str]:
    argv = [QEMU]
    argv += quiet_args()
    argv += accel_args(c.accel, c.cpus)
    argv += machine_args(c.memory_mb, c.cpus)
    argv += firmware_args(c.boot)
    argv += console_args(c.console_log)
    argv += result_channel_args(c.result_file)
    argv += monitor_args(c.monitor)
    if c.disk and c.device:
        argv += throttled(faulty_disk_args(c.disk, c.device, c.blkdebug) if c.blkdebug
                          else disk_args(c.disk, c.device, c.extra_disks), c.throttle_iops)
    argv += kernel_args(c.kernel, c.initrd, kernel_cmdline(c.cmdline_extra))
    return argv


# A boot sector: `mov al,0x2a; out 0xf4,al; hlt` -- isa-debug-exit turns the write into
# QEMU's exit status (0x2a << 1) | 1 = 85.
PROBE_SECTOR = bytes([0xB0, 0x2A, 0xE6, 0xF4, 0xF4]) + bytes(505) + b"\x55\xAA"
PROBE_EXIT = (0x2A << 1) | 1


def probe_argv(image: Path, accel: str) -> list[str]:
    # The guests' own accelerator and CPU model: on a nested host, KVM runs the boot sector
    # with QEMU's default CPU but aborts at start with `-cpu host` (an MSR the outer
    # hypervisor refuses), so a probe without it passed and every guest then failed to boot.
    return [QEMU, *quiet_args(), *accel_args(accel), "-M", "pc", "-m", "64",
            "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
            "-drive", f"file={image},format=raw,if=ide"]


def probe_accel(accel: str, timeout: float = 20.0) -> tuple[bool, str]:
    """Run the boot sector under `accel`; works only if guest code ran and reached the port."""
    if accel == "kvm" and not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False, "/dev/kvm absent or not accessible"
    with tempfile.TemporaryDirectory() as d:
        img = Path(d) / "probe.img"
        img.write_bytes(PROBE_SECTOR)
        try:
            r = subprocess.run(probe_argv(img, accel), capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return False, f"{accel}: probe guest did not finish in {timeout:.0f}s"
    if r.returncode == PROBE_EXIT:
        return True, ""
    err = (r.stderr.strip().splitlines() or [""])[-1]
    return False, f"{accel}: probe guest exited {r.returncode}: {err}"


def choose_accel(requested: str = "auto") -> tuple[str, str]:
    """('kvm'|'tcg', why).  'auto' tries KVM for real and falls back to TCG."""
    if requested == "tcg":
        return "tcg", "requested"
    ok, why = probe_accel("kvm")
    if ok:
        return "kvm", "probe guest ran under KVM"
    if requested == "kvm":
        raise RuntimeError(f"KVM requested but unusable: {why}")
    return "tcg", why


def qemu_version() -> str:
    r = subprocess.run([QEMU, "--version"], capture_output=True, text=True)
    first = r.stdout.split("\n", 1)[0]
    return first.split("version", 1)[1].strip().split()[0] if "version" in first else first


def hmp(sock: Path, command: str, timeout: float = 5.0) -> str:
    """Send one human-monitor command (e.g. `nmi`) over the monitor socket and wait for the
    prompt that follows it: QEMU may drop a command still unread when the client hangs up, so
    the answer is read up to the second `(qemu)` prompt (the first follows the banner)."""
    import socket
    out = b""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(sock))
        s.sendall(command.encode() + b"\n")
        try:
            while out.count(b"(qemu)") < 2:
                chunk = s.recv(4096)
                if not chunk:
                    break
                out += chunk
        except OSError:
            pass
    return out.decode(errors="replace")
