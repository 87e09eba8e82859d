"""Device faults from the catalog's rows: which guests to boot, and what each one's disk carries.

A row with `fault = { layer = "vm", target = "blkdebug:EVENT[@SECTOR]", effect = ERRNO,
trigger = once|always }` (listed by `harness --list --format json`) runs only in a guest whose
disk sits behind QEMU's blkdebug with that rule; ordinary guests get no rules.  A once-rule
fires once per guest, so every interface of the row gets its own copy, STRIDE sectors apart
(harness/faults/vm.cc uses the same slots).  Boots are the cost (20-30 s each under TCG), so
rules share a guest where they cannot interfere: a sector rule fails only requests covering its
copies' sectors and each row's I/O stays within STRIDE of its own copy, so sector rules whose
spans [sector, sector + len(SLOTS) * STRIDE) are disjoint go on one disk (one blkdebug config, an
[inject-error] section per copy, matched by offset and iotype: QEMU block/blkdebug.c rule_check);
a sector rule overlapping one already there goes elsewhere.  A rule without a sector
(flush_to_disk) fails every request of its event and a throttle slows the whole drive, so each
keeps a guest of its own.  A shared guest also holds at most REPORTS cases: the harness reads
`fired` back from the kernel's line for each failed request, which blk_print_req_error (6.x
block/blk-mq.c; 5.10 print_req_error in block/blk-core.c) prints with printk_ratelimited, a burst
of 10 per 5 s (include/linux/ratelimit_types.h), and each case fails one request: one guest for
all 5 sector rules x 4 interfaces lost the lines of cases 11-20, whose rows came out broken.  So
the shipped catalog boots 3 sector-rule guests + flush + throttle = 5 fault guests, not 7.  The
guest is told which row rules are armed (AIOH_DEVICE_FAULT, ';'-separated; a row whose rule is
not among them skips "needs a VM with <rule>"), keeps its disk raw (scratch on tmpfs, so no mkfs
touches a faulted sector) and, with any once-rule, loads nvme_core with max_retries=0: the NVMe
driver retries a failed command (drivers/nvme/host/core.c nvme_decide_disposition), which would
hide the fault.
"""
from __future__ import annotations

from .qemu import DeviceFault, Throttle

STRIDE = 2048                                            # sectors of 512 bytes: 1 MiB
SLOTS = ("posix-aio", "kernel-aio", "libaio", "io_uring")
NVME_ONCE_PARAMS = "max_retries=0"
# Failed-request log lines one guest can show before the kernel's ratelimit drops them
# (DEFAULT_RATELIMIT_BURST); every case of a sector rule fails exactly one request.
REPORTS = 10


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
    """[(armed row rules, disk rules, cases)], the ordinary guest (no rules) first when it has
    cases, then the fault guests in catalog order of their first rule: every sector rule goes on
    the first guest whose sector rules' spans it does not overlap and whose cases stay within
    REPORTS, every other rule on its own."""
    plain: list[dict] = []
    by_rule: dict[str, list[dict]] = {}
    for c in cases:
        r = row_rule(c.get("fault"))
        if r is None:
            plain.append(c)
        else:
            by_rule.setdefault(r.text(), []).append(c)
    guests: list[list[str]] = []                       # the row rules (texts) of each fault guest
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


def guest_env(armed: tuple[str, ...], rules: list[DeviceFault], disk: str) -> dict[str, str]:
    """The job variables a guest with these rules gets (vm/guest/init.sh exports the AIOH_ ones)."""
    env = {"AIOH_VM_GUEST": "1", "AIOH_FAULT_DEVICE": f"/dev/{disk}"}
    if armed:
        env["AIOH_DEVICE_FAULT"] = ";".join(armed)
        env["FS"] = "tmpfs"
    if any(r.once for r in rules):
        env["MODPARAMS_nvme_core"] = NVME_ONCE_PARAMS
    return env


def tag(armed: tuple[str, ...]) -> str:
    """A file-name suffix for a fault guest's console logs and work dir: its first rule (in one
    guest only) and how many more, so a guest of many rules still has a short name."""
    if not armed:
        return ""
    return "__" + armed[0].replace(":", "-").replace("=", "") + (f"+{len(armed) - 1}" if len(armed) > 1 else "")


def merge(cases: list[dict], docs: list[tuple[tuple[str, ...], dict]]) -> dict:
    """One document per kernel x device: the ordinary guest's document with every fault guest's
    results added, and environment.vm.device_fault_guests saying what each guest carried."""
    from .results import summarize
    base = next((d for a, d in docs if not a), docs[0][1])
    merged = dict(base)
    results = {r["id"]: r for _, d in docs for r in d["results"]}
    merged["results"] = [results[c["id"]] for c in cases if c["id"] in results]
    merged["summary"] = summarize(merged["results"])
    env = dict(base["environment"])
    vm = dict(env["vm"])
    vm["device_fault_guests"] = [
        {"armed": list(a), "rules": d["environment"]["vm"].get("device_faults", []),
         "nvme_core_params": d["environment"]["vm"].get("nvme_core_params"),
         "nvme_max_retries": d["environment"].get("facts", {}).get("nvme_max_retries"),
         "fs": d["environment"]["vm"].get("fs"), "console_logs": d["environment"]["vm"].get("console_logs"),
         "boots": d["environment"]["vm"].get("boots"), "ids": [r["id"] for r in d["results"]]}
        for a, d in docs if a]
    env["vm"] = vm
    merged["environment"] = env
    merged["run"] = dict(base["run"], guest_runs=[g for _, d in docs for g in d["run"].get("guest_runs", [])])
    return merged
