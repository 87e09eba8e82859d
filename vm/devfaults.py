"""Device faults from the catalog's rows: which rules share a faulty disk, and what each disk carries.

A row with `fault = { layer = "vm", target = "blkdebug:EVENT[@SECTOR]", effect = ERRNO,
trigger = once|always }` (listed by `harness --list --format json`) runs only against a disk that
sits behind QEMU's blkdebug with that rule.  Boots are the cost under TCG (10-30 s each), so
these disks are extra disks of the target's one guest (after the sweep's target disks: NVMe
namespaces of the same controller, or more virtio disks), each with the rules of one *part*,
and the guest runs each part after the ordinary catalog in a harness run of its own, told the
part's armed rules and disk (vm/guest/init.sh).  A once-rule fires once per disk, so every
interface of the row gets its own copy, STRIDE sectors apart (harness/faults/vm.cc uses the
same slots).  Sector rules whose spans [sector, sector + len(SLOTS) * STRIDE) are disjoint
share a disk (one blkdebug config, an [inject-error] section per copy, matched by offset and
iotype: QEMU block/blkdebug.c rule_check); a rule without a sector (flush_to_disk) fails every
request of its event and a throttle slows the whole drive, so each keeps a disk of its own.  A
part also holds at most REPORTS cases: the harness reads `fired` back from the kernel's line for
each failed request, which blk_print_req_error (6.x block/blk-mq.c; 5.10 print_req_error in
block/blk-core.c) prints with printk_ratelimited, a burst of 10 per 5 s for the whole kernel
(include/linux/ratelimit_types.h), and each case fails one request: one run of all 5 sector
rules x 4 interfaces lost the lines of cases 11-20, whose rows came out broken.  So the guest
counts the lines its parts may print since it last let the ratelimit's window pass: a part
that would take that count past REPORTS starts only LOG_WINDOW seconds after the last part that
printed any ended (the catalog's own block-fault rows print that line too, an unknown number),
and throttle parts, which print and read none, go first and overlap that wait.  The shipped catalog has 5 parts: 3 of sector rules, flush, throttle.  The part's
disk stays raw (its scratch is tmpfs, so no mkfs touches a faulted sector) and, with any
once-rule, nvme_core's max_retries is 0 for the part: the NVMe driver retries a failed command
(drivers/nvme/host/core.c nvme_decide_disposition, which reads the writable parameter per
request), which would hide the fault.
"""
from __future__ import annotations

from dataclasses import dataclass

from .qemu import DeviceFault, Throttle

STRIDE = 2048                                            # sectors of 512 bytes: 1 MiB
SLOTS = ("posix-aio", "kernel-aio", "libaio", "io_uring")
NVME_ONCE_PARAMS = "max_retries=0"
# Failed-request log lines one guest can show before the kernel's ratelimit drops them
# (DEFAULT_RATELIMIT_BURST); every case of a sector rule fails exactly one request.
REPORTS = 10
# Seconds between the end of one part and the start of a part that reads the error log line: the
# ratelimit's interval (DEFAULT_RATELIMIT_INTERVAL, 5 s) and a margin, so its burst is whole again.
LOG_WINDOW = 5.5


def row_rule(fault: dict | None) -> DeviceFault | Throttle | None:
    """The row's blkdebug rule (or slow-disk throttle), or None for a row without a vm fault."""
    if not fault or fault.get("layer") != "vm":
        return None
    target = fault.get("target", "")
    if target.startswith("throttle:iops="):
        return Throttle(int(target[len("throttle:iops="):]))
    if not target.startswith("blkdebug:"):
        raise ValueError(f"vm fault target {target!r}: want blkdebug:EVENT[@SECTOR]")
    event, _, sector = target[len("blkdebug:"):].partition("@")
    trigger = fault.get("trigger", "always")
    if trigger not in ("once", "always"):
        raise ValueError(f"vm fault trigger {trigger!r}: blkdebug rules fire once or always")
    return DeviceFault(event, fault.get("effect", ""), int(sector) if sector else None, trigger == "once")


def copies(rule, interfaces: list[str]) -> list:
    """The rules on the disk for one row rule: one per interface at its slot's sector; a rule
    without a sector (a flush, a throttle) is one rule for all."""
    if isinstance(rule, Throttle) or rule.sector is None:
        return [rule]
    return [DeviceFault(rule.event, rule.errno, rule.sector + SLOTS.index(i) * STRIDE, rule.once)
            for i in sorted(set(interfaces), key=SLOTS.index)]


def span(rule) -> range | None:
    """The sectors a sector rule's copies (and the rows' I/O at them) may touch, or None for a
    rule that reaches the whole disk (no sector, a throttle) and so shares a guest with nothing."""
    if isinstance(rule, Throttle) or rule.sector is None:
        return None
    return range(rule.sector, rule.sector + len(SLOTS) * STRIDE)


def groups(cases: list[dict]) -> list[tuple[tuple[str, ...], list[DeviceFault], list[dict]]]:
    """[(armed row rules, disk rules, cases)], the ordinary cases (no rules) first when there are
    any, then the fault disks in catalog order of their first rule: every sector rule goes on
    the first disk whose sector rules' spans it does not overlap and whose cases stay within
    REPORTS, every other rule on its own."""
    plain: list[dict] = []
    by_rule: dict[str, list[dict]] = {}
    for c in cases:
        r = row_rule(c.get("fault"))
        if r is None:
            plain.append(c)
        else:
            by_rule.setdefault(r.text(), []).append(c)
    guests: list[list[str]] = []                       # the row rules (texts) of each fault disk
    spans: list[list[range] | None] = []               # their spans; None: shares with nothing
    for text, cs in by_rule.items():
        s = span(row_rule(cs[0]["fault"]))
        k = next((k for k, taken in enumerate(spans) if s is not None and taken is not None
                  and all(s.stop <= t.start or t.stop <= s.start for t in taken)
                  and sum(len(by_rule[t]) for t in guests[k]) + len(cs) <= REPORTS), None)
        if k is None:
            guests.append([text])
            spans.append(None if s is None else [s])
        else:
            guests[k].append(text)
            spans[k].append(s)
    out = [((), [], plain)] if plain else []
    for texts in guests:
        rules = [r for t in texts
                 for r in copies(row_rule(by_rule[t][0]["fault"]), [c["interface"] for c in by_rule[t]])]
        members = {c["id"] for t in texts for c in by_rule[t]}
        out.append((tuple(texts), rules, [c for c in cases if c["id"] in members]))
    return out


@dataclass(frozen=True)
class FaultPart:
    """One faulty disk of a guest and the rows that run against it, in one harness run."""
    armed: tuple[str, ...]                    # the row rules (AIOH_DEVICE_FAULT)
    rules: tuple                              # what the disk carries (DeviceFault copies, Throttle)
    ids: tuple[str, ...]                      # catalog order

    @property
    def once(self) -> bool:
        return any(r.once for r in self.rules)

    @property
    def reads_log(self) -> bool:
        """Whether its rows read `fired` from the rate-limited block error line (a throttle row
        reads the device's in-flight count instead)."""
        return any(isinstance(r, DeviceFault) for r in self.rules)


def parts(cases: list[dict]) -> tuple[list[dict], list[FaultPart]]:
    """(the ordinary cases, the fault parts): the groups of `groups`, throttle parts first (they
    read no log line, so they also let the catalog's own lines age out of the ratelimit)."""
    plain: list[dict] = []
    out: list[FaultPart] = []
    for armed, rules, cs in groups(cases):
        if not armed:
            plain = cs
        else:
            out.append(FaultPart(armed, tuple(rules), tuple(c["id"] for c in cs)))
    return plain, sorted(out, key=lambda f: f.reads_log)


def part_env(index: int, part: FaultPart, disk: str) -> dict[str, str]:
    """The job variables of fault part `index` (1-based) on guest disk `disk` (vm/guest/init.sh);
    LOG: how many block error lines its cases may print (one each), empty when it reads none."""
    k = f"FAULT_{index}_"
    return {k + "ARMED": ";".join(part.armed), k + "DISK": disk,
            k + "RETRIES": "0" if part.once else "", k + "LOG": str(len(part.ids)) if part.reads_log else ""}


def part_record(part: FaultPart, disk: str, environment: dict | None) -> dict:
    """environment.vm.device_fault_parts[]: what the part's disk carried and what its run saw."""
    facts = (environment or {}).get("facts", {})
    return {"armed": list(part.armed), "rules": [dict(r.__dict__, rule=r.text()) for r in part.rules],
            "disk": disk, "nvme_core_params": NVME_ONCE_PARAMS if part.once else None,
            "nvme_max_retries": facts.get("nvme_max_retries"), "fs": facts.get("scratch_fs", "tmpfs"),
            "ids": list(part.ids)}


def guest_env(rules: list[DeviceFault], disk: str) -> dict[str, str]:
    """The job variables of a guest whose first disk carries `rules` (scripts/matrix
    --device-fault), or of any guest with none; the rows' own rules are its fault parts'."""
    env = {"AIOH_VM_GUEST": "1", "AIOH_FAULT_DEVICE": f"/dev/{disk}"}
    if any(r.once for r in rules):
        env["MODPARAMS_nvme_core"] = NVME_ONCE_PARAMS
    return env
