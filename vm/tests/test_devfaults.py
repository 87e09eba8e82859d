"""Device faults from rows: a row's rule is parsed and named as the harness names it, rows with
the same rule share one disk, sector rules with disjoint spans share one disk (at most REPORTS
cases, the kernel's log burst) while overlapping ones, flush rules and throttles get their own
(the shipped catalog has 5 fault parts, not 7), a once-rule is copied per interface at its slot,
a part with any once-rule turns NVMe retries off, throttle parts (no log readback) run first,
the blkdebug config says which request type a rule fails, and each part is recorded."""
import tomllib
from pathlib import Path

import pytest

from vm import devfaults, qemu


def row(id_, iface, fault=None):
    c = {"id": f"faults.{id_}@{iface}", "interface": iface, "case": f"faults.{id_}"}
    if fault:
        c["fault"] = fault
    return c


READ_ONCE = {"layer": "vm", "target": "blkdebug:read_aio@2621440", "effect": "EIO", "trigger": "once"}
FLUSH = {"layer": "vm", "target": "blkdebug:flush_to_disk", "effect": "EIO", "trigger": "always"}


def test_row_rule_is_named_like_the_harness():
    r = devfaults.row_rule(READ_ONCE)
    assert r == qemu.DeviceFault("read_aio", "EIO", 2621440, True)
    assert r.text() == "read_aio:EIO:sector=2621440"             # faults::DeviceRule::text
    assert devfaults.row_rule(FLUSH).text() == "flush_to_disk:EIO:always"
    assert qemu.DeviceFault.parse(r.text()) == r
    assert devfaults.row_rule(None) is None
    assert devfaults.row_rule({"layer": "syscall", "target": "io_submit"}) is None
    with pytest.raises(ValueError):
        devfaults.row_rule({"layer": "vm", "target": "dm-error", "effect": "EIO", "trigger": "always"})
    with pytest.raises(ValueError):
        devfaults.row_rule(dict(READ_ONCE, trigger="nth:2"))


def test_groups_one_guest_per_distinct_rule_set():
    cases = [row("plain", "io_uring"),
             row("read", "posix-aio", READ_ONCE), row("read", "io_uring", READ_ONCE),
             row("flush", "libaio", FLUSH), row("read-again", "libaio", READ_ONCE),
             row("plain2", "libaio")]
    g = devfaults.groups(cases)
    assert [a for a, _, _ in g] == [(), ("read_aio:EIO:sector=2621440",), ("flush_to_disk:EIO:always",)]
    assert [c["id"] for c in g[0][2]] == ["faults.plain@io_uring", "faults.plain2@libaio"]
    assert g[0][1] == []                                           # ordinary guests: no rules
    assert len(g[1][2]) == 3 and len(g[2][2]) == 1
    # Without plain rows there is no ordinary guest.
    assert [a for a, _, _ in devfaults.groups(cases[1:3])] == [("read_aio:EIO:sector=2621440",)]


def vm_rule(target, effect="EIO", trigger="once"):
    return {"layer": "vm", "target": target, "effect": effect, "trigger": trigger}


def test_sector_rules_with_disjoint_spans_share_one_guest():
    s, w = 2621440, devfaults.STRIDE
    cases = [row("a", "io_uring", vm_rule(f"blkdebug:read_aio@{s}")),
             row("b", "libaio", vm_rule(f"blkdebug:write_aio@{s + 4 * w}")),     # right after a's span
             row("c", "posix-aio", vm_rule(f"blkdebug:read_aio@{s + 10 * w}", trigger="always"))]
    g = devfaults.groups(cases)
    assert len(g) == 1
    armed, rules, cs = g[0]
    assert armed == (f"read_aio:EIO:sector={s}", f"write_aio:EIO:sector={s + 4 * w}",
                     f"read_aio:EIO:sector={s + 10 * w}:always")
    assert [c["id"] for c in cs] == [c["id"] for c in cases]
    # Each row's copy at its own interface's slot, all on the one disk.
    assert [(r.event, r.sector, r.once) for r in rules] == [
        ("read_aio", s + 3 * w, True), ("write_aio", s + 6 * w, True), ("read_aio", s + 10 * w, False)]
    conf = qemu.blkdebug_config(rules)
    assert conf.count("[inject-error]") == 3
    env = devfaults.part_env(1, devfaults.FaultPart(armed, tuple(rules), ()), "nvme0n6")
    assert env["FAULT_1_ARMED"].split(";") == list(armed)         # harness/faults/vm.cc armed_rules
    assert env["FAULT_1_RETRIES"] == "0"                           # one once-rule is enough


def test_overlapping_rules_flushes_and_throttles_get_their_own_guests():
    s, w = 2621440, devfaults.STRIDE
    cases = [row("a", "io_uring", vm_rule(f"blkdebug:read_aio@{s}")),
             row("same", "io_uring", vm_rule(f"blkdebug:write_aio@{s}")),              # same sector
             row("inside", "libaio", vm_rule(f"blkdebug:read_aio@{s + 3 * w}")),       # in a's span
             row("flush", "libaio", vm_rule("blkdebug:flush_to_disk", trigger="always")),
             row("flush2", "io_uring", vm_rule("blkdebug:flush_to_disk", "ENOSPC", "always")),
             row("slow", "libaio", vm_rule("throttle:iops=2", "latency", "always")),
             row("far", "libaio", vm_rule(f"blkdebug:read_aio@{s + 100 * w}"))]
    g = devfaults.groups(cases)
    assert [a for a, _, _ in g] == [
        (f"read_aio:EIO:sector={s}", f"read_aio:EIO:sector={s + 100 * w}"),   # far shares with a
        (f"write_aio:EIO:sector={s}",), (f"read_aio:EIO:sector={s + 3 * w}",),  # overlap a and same
        ("flush_to_disk:EIO:always",), ("flush_to_disk:ENOSPC:always",), ("throttle:iops=2",)]
    assert [c["id"] for c in g[0][2]] == ["faults.a@io_uring", "faults.far@libaio"]
    # A rule sharing nothing stays alone even when it is the only row.
    assert devfaults.span(devfaults.row_rule(FLUSH)) is None


def test_a_shared_guest_holds_no_more_cases_than_the_kernel_logs_in_a_burst():
    w = devfaults.STRIDE
    cases = [row(f"r{k}", i, vm_rule(f"blkdebug:read_aio@{2621440 + k * 8 * w}"))
             for k in range(3) for i in devfaults.SLOTS]
    g = devfaults.groups(cases)
    assert [len(cs) for _, _, cs in g] == [8, 4]                  # 12 cases > REPORTS = 10
    assert all(len(cs) <= devfaults.REPORTS for _, _, cs in g)


def test_shipped_catalog_has_five_fault_parts_instead_of_seven():
    table = tomllib.loads((Path(__file__).resolve().parents[2] / "cases" / "faults_vm.toml").read_text())
    cases = [row(c["id"], i, c["fault"]) for c in table["case"] for i in devfaults.SLOTS]
    g = devfaults.groups(cases)
    assert len({c["fault"]["target"] for c in table["case"]}) == 7
    assert [a for a, _, _ in g] == [
        ("read_aio:EIO:sector=2621440", "read_aio:EIO:sector=2686976:always"),
        ("write_aio:EIO:sector=2752512", "read_aio:EIO:sector=2818048"),
        ("flush_to_disk:EIO:always",), ("write_aio:ENOSPC:sector=2883584",), ("throttle:iops=2",)]
    assert sorted(c["id"] for _, _, cs in g for c in cs) == sorted(c["id"] for c in cases)
    for armed, rules, cs in g:
        assert len(cs) <= devfaults.REPORTS
        if len(armed) > 1:                                        # one copy per row per slot, apart
            assert len(rules) == len(cs) and len({r.sector for r in rules}) == len(rules)
            assert devfaults.FaultPart(armed, tuple(rules), ()).once


def test_once_rule_is_copied_per_interface_slot():
    g = devfaults.groups([row("read", "io_uring", READ_ONCE), row("read", "posix-aio", READ_ONCE),
                          row("read", "kernel-aio", READ_ONCE)])
    rules = g[0][1]
    assert [r.sector for r in rules] == [2621440, 2621440 + 2048, 2621440 + 3 * 2048]
    assert all(r.once and r.event == "read_aio" for r in rules)
    assert devfaults.copies(devfaults.row_rule(FLUSH), ["io_uring", "libaio"]) == [devfaults.row_rule(FLUSH)]


def test_run_wide_rule_env_arms_rules_and_turns_retries_off_only_for_once():
    once = devfaults.copies(devfaults.row_rule(READ_ONCE), ["io_uring"])
    env = devfaults.guest_env(once, "nvme0n1")
    assert env["AIOH_FAULT_DEVICE"] == "/dev/nvme0n1" and env["AIOH_VM_GUEST"] == "1"
    assert env["MODPARAMS_nvme_core"] == "max_retries=0"
    always = devfaults.guest_env([devfaults.row_rule(FLUSH)], "nvme0n1")
    assert "MODPARAMS_nvme_core" not in always
    plain = devfaults.guest_env([], "nvme0n1")
    assert "AIOH_DEVICE_FAULT" not in plain and "FS" not in plain and "MODPARAMS_nvme_core" not in plain


def test_blkdebug_config_narrows_each_rule_to_its_request_type():
    conf = qemu.blkdebug_config(devfaults.copies(devfaults.row_rule(READ_ONCE), ["libaio"])
                                + [devfaults.row_rule(FLUSH)])
    assert 'event = "read_aio"\nerrno = "5"\nsector = "2625536"\nonce = "on"\niotype = "read"' in conf
    assert 'event = "flush_to_disk"\nerrno = "5"\nonce = "off"\niotype = "flush"' in conf


def test_parts_put_the_throttle_first_and_keep_every_fault_row():
    table = tomllib.loads((Path(__file__).resolve().parents[2] / "cases" / "faults_vm.toml").read_text())
    cases = [row("plain", "io_uring")] + [row(c["id"], i, c["fault"]) for c in table["case"] for i in devfaults.SLOTS]
    plain, parts = devfaults.parts(cases)
    assert [c["id"] for c in plain] == ["faults.plain@io_uring"]
    assert parts[0].armed == ("throttle:iops=2",) and not parts[0].reads_log and not parts[0].once
    assert all(f.reads_log for f in parts[1:])
    assert sorted(i for f in parts for i in f.ids) == sorted(c["id"] for c in cases[1:])
    env = devfaults.part_env(2, parts[1], "nvme0n7")
    assert env == {"FAULT_2_ARMED": ";".join(parts[1].armed), "FAULT_2_DISK": "nvme0n7",
                   "FAULT_2_RETRIES": "0", "FAULT_2_LOG": "8"}
    flush = next(f for f in parts if f.armed == ("flush_to_disk:EIO:always",))
    assert devfaults.part_env(5, flush, "nvme0n10")["FAULT_5_RETRIES"] == ""      # no once-rule


def test_part_record_says_what_the_disk_carried_and_what_the_run_saw():
    _, parts = devfaults.parts([row("read", "io_uring", READ_ONCE), row("read", "libaio", READ_ONCE)])
    rec = devfaults.part_record(parts[0], "nvme0n6", {"facts": {"nvme_max_retries": 0, "scratch_fs": "tmpfs"}})
    assert rec["armed"] == ["read_aio:EIO:sector=2621440"] and rec["disk"] == "nvme0n6"
    assert [r["rule"] for r in rec["rules"]] == ["read_aio:EIO:sector=2625536", "read_aio:EIO:sector=2627584"]
    assert rec["nvme_core_params"] == "max_retries=0" and rec["nvme_max_retries"] == 0 and rec["fs"] == "tmpfs"
    assert rec["ids"] == ["faults.read@io_uring", "faults.read@libaio"]
    assert devfaults.part_record(parts[0], "nvme0n6", None)["nvme_max_retries"] is None   # part never ran


def test_slow_disk_row_becomes_a_throttled_drive():
    slow = {"layer": "vm", "target": "throttle:iops=2", "effect": "latency", "trigger": "always"}
    g = devfaults.groups([row("slow", "io_uring", slow), row("slow", "libaio", slow)])
    assert [a for a, _, _ in g] == [("throttle:iops=2",)]
    assert g[0][1] == [qemu.Throttle(2)]                          # one throttle for all interfaces
    assert "MODPARAMS_nvme_core" not in devfaults.guest_env(g[0][1], "nvme0n1")
    assert not devfaults.FaultPart(g[0][0], tuple(g[0][1]), ()).reads_log
    args = qemu.throttled(qemu.disk_args(qemu.Path("/d.img"), "nvme-4k"), 2)
    assert args[args.index("-drive") + 1].endswith(",throttling.iops-total=2")
    assert qemu.throttled(["-drive", "x"], None) == ["-drive", "x"]
