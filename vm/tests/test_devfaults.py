"""Device faults from rows: a row's rule is parsed and named as the harness names it, rows with
the same rule share one guest, sector rules with disjoint spans share one guest (at most REPORTS
cases, the kernel's log burst) while overlapping ones, flush rules and throttles get their own
(the shipped catalog boots 5 fault guests, not 7), a once-rule is copied
per interface at its slot, a guest with any once-rule turns NVMe retries off, the blkdebug config
says which request type a rule fails, and a target's documents merge into one."""
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
    env = devfaults.guest_env(armed, rules, "nvme0n1")
    assert env["AIOH_DEVICE_FAULT"].split(";") == list(armed)     # harness/faults/vm.cc armed_rules
    assert env["MODPARAMS_nvme_core"] == "max_retries=0"           # one once-rule is enough
    assert devfaults.tag(armed) == f"__read_aio-EIO-sector{s}+2"


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


def test_shipped_catalog_boots_five_fault_guests_instead_of_seven():
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
            assert devfaults.guest_env(armed, rules, "nvme0n1")["MODPARAMS_nvme_core"] == "max_retries=0"


def test_once_rule_is_copied_per_interface_slot():
    g = devfaults.groups([row("read", "io_uring", READ_ONCE), row("read", "posix-aio", READ_ONCE),
                          row("read", "kernel-aio", READ_ONCE)])
    rules = g[0][1]
    assert [r.sector for r in rules] == [2621440, 2621440 + 2048, 2621440 + 3 * 2048]
    assert all(r.once and r.event == "read_aio" for r in rules)
    assert devfaults.copies(devfaults.row_rule(FLUSH), ["io_uring", "libaio"]) == [devfaults.row_rule(FLUSH)]


def test_guest_env_arms_rules_and_turns_retries_off_only_for_once():
    once = devfaults.copies(devfaults.row_rule(READ_ONCE), ["io_uring"])
    env = devfaults.guest_env(("read_aio:EIO:sector=2621440",), once, "nvme0n1")
    assert env["AIOH_DEVICE_FAULT"] == "read_aio:EIO:sector=2621440"
    assert env["AIOH_FAULT_DEVICE"] == "/dev/nvme0n1" and env["AIOH_VM_GUEST"] == "1"
    assert env["FS"] == "tmpfs"                                    # no mkfs on the faulted disk
    assert env["MODPARAMS_nvme_core"] == "max_retries=0"
    always = devfaults.guest_env(("flush_to_disk:EIO:always",), [devfaults.row_rule(FLUSH)], "nvme0n1")
    assert "MODPARAMS_nvme_core" not in always
    plain = devfaults.guest_env((), [], "nvme0n1")
    assert "AIOH_DEVICE_FAULT" not in plain and "FS" not in plain and "MODPARAMS_nvme_core" not in plain


def test_blkdebug_config_narrows_each_rule_to_its_request_type():
    conf = qemu.blkdebug_config(devfaults.copies(devfaults.row_rule(READ_ONCE), ["libaio"])
                                + [devfaults.row_rule(FLUSH)])
    assert 'event = "read_aio"\nerrno = "5"\nsector = "2625536"\nonce = "on"\niotype = "read"' in conf
    assert 'event = "flush_to_disk"\nerrno = "5"\nonce = "off"\niotype = "flush"' in conf


def test_merge_keeps_catalog_order_and_records_each_fault_guest():
    cases = [row("plain", "io_uring"), row("read", "io_uring", READ_ONCE)]

    def doc(ids, vm, facts=None):
        return {"schema": "aioharness-result/1", "run": {"guest_runs": [{"n": len(ids)}]},
                "environment": {"facts": facts or {}, "vm": vm},
                "results": [{"id": i, "interface": "io_uring", "verdict": "pass"} for i in ids],
                "summary": {}}
    plain = doc([cases[0]["id"]], {"device": "nvme-4k", "device_faults": [], "boots": [1]})
    fault = doc([cases[1]["id"]], {"device": "nvme-4k", "device_faults": [{"event": "read_aio"}],
                                   "nvme_core_params": "max_retries=0", "boots": [1, 2], "fs": "tmpfs"},
                {"nvme_max_retries": 0})
    m = devfaults.merge(cases, [((), plain), (("read_aio:EIO:sector=2621440",), fault)])
    assert [r["id"] for r in m["results"]] == [c["id"] for c in cases]
    assert m["summary"]["total"] == 2 and m["summary"]["pass"] == 2
    g = m["environment"]["vm"]["device_fault_guests"]
    assert g == [{"armed": ["read_aio:EIO:sector=2621440"], "rules": [{"event": "read_aio"}],
                  "nvme_core_params": "max_retries=0", "nvme_max_retries": 0, "fs": "tmpfs",
                  "console_logs": None, "boots": [1, 2], "ids": [cases[1]["id"]]}]
    assert len(m["run"]["guest_runs"]) == 2
    assert devfaults.tag(("read_aio:EIO:sector=2621440",)) == "__read_aio-EIO-sector2621440"


def test_slow_disk_row_becomes_a_throttled_drive():
    slow = {"layer": "vm", "target": "throttle:iops=2", "effect": "latency", "trigger": "always"}
    g = devfaults.groups([row("slow", "io_uring", slow), row("slow", "libaio", slow)])
    assert [a for a, _, _ in g] == [("throttle:iops=2",)]
    assert g[0][1] == [qemu.Throttle(2)]                          # one throttle for all interfaces
    assert "MODPARAMS_nvme_core" not in devfaults.guest_env(g[0][0], g[0][1], "nvme0n1")
    args = qemu.throttled(qemu.disk_args(qemu.Path("/d.img"), "nvme-4k"), 2)
    assert args[args.index("-drive") + 1].endswith(",throttling.iops-total=2")
    assert qemu.throttled(["-drive", "x"], None) == ["-drive", "x"]
