"""The CLI's own decisions, without booting: target selection and sharding from the catalog,
usage errors (exit 2), the boot path (measured per kernel, else the measured default), and the
summary table (VM verdicts in their own columns, `timeout` once), and the guest slots (a guest
in its fault parts frees its own once)."""
import json

from vm import matrix, qemu


def test_list_targets_default_catalog(capsys):
    assert matrix.main(["--list-targets", "--devices", "nvme-512,nvme-4k"]) == 0
    lines = capsys.readouterr().out.split("\n")
    assert lines[:2] == ["5.10 nvme-512", "5.10 nvme-4k"] and "7 nvme-4k" in lines


def test_list_targets_shard(capsys):
    assert matrix.main(["--list-targets", "--kernels", "6.1,7", "--devices", "virtio-512,nvme-4k",
                        "--shard", "2/2"]) == 0
    assert capsys.readouterr().out.split() == ["6.1", "nvme-4k", "7", "nvme-4k"]


def test_usage_errors_exit_2(capsys):
    assert matrix.main(["--list-targets", "--shard", "3/2"]) == 2
    assert matrix.main(["--list-targets", "--devices", "floppy"]) == 2
    assert matrix.main(["--list-targets", "--boot", "pxe"]) == 2
    assert matrix.main(["--list-targets", "--device-fault", "read_aio:EWHAT"]) == 2
    err = capsys.readouterr().err
    assert "floppy" in err and "need 1 <= i <= n" in err


def test_boot_path_measured_then_default(tmp_path):
    assert matrix.boot_path_for("6.1.0-50-amd64", "auto", tmp_path).name == matrix.BOOT_PREFERENCE
    (tmp_path / matrix.BOOT_PATHS_FILE).write_text(json.dumps({"6.1.0-50-amd64": "bzimage+qboot"}))
    assert matrix.boot_path_for("6.1.0-50-amd64", "auto", tmp_path) == qemu.BootPath("bzimage", "qboot")
    assert matrix.boot_path_for("6.1.0-50-amd64", "pvh+seabios", tmp_path) == qemu.BootPath("pvh", "seabios")


def test_summary_table_columns():
    t = matrix.summary_table([("6.1__nvme-4k", {"total": 3, "pass": 2, "kernel-panic": 1})])
    head, _, row = t.split("\n")
    assert head.split().count("timeout") == 1 and "kernel-panic" in head and "no-result" in head
    cols = head.split()[3:]   # after "kernel x device"
    vals = dict(zip(cols, row.split()[1:]))
    assert vals["total"] == "3" and vals["pass"] == "2" and vals["kernel-panic"] == "1"


def test_coverage_lists_where_each_id_executed():
    docs = {"5.10__nvme-4k": {"results": [{"id": "a", "verdict": "pass"}, {"id": "b", "verdict": "skip"},
                                          {"id": "c", "verdict": "timeout", "vm": {"phase": "run"}}]},
            "6.12__nvme-4k": {"results": [{"id": "a", "verdict": "fail"}, {"id": "b", "verdict": "xfail"},
                                          {"id": "c", "verdict": "no-result", "vm": {}}]}}
    assert matrix.coverage(docs) == {"a": ["5.10__nvme-4k", "6.12__nvme-4k"], "b": ["6.12__nvme-4k"], "c": []}


def fake_harness(tmp_path, help_text):
    h = tmp_path / "harness"
    h.write_text(f"#!/bin/sh\ncat <<'EOT'\n{help_text}\nEOT\n")
    h.chmod(0o755)
    return h


def test_guest_jobs_passed_only_when_the_harness_has_the_flag(tmp_path):
    old = fake_harness(tmp_path, "  --timeout N   per case\n  --jobs-file X")
    assert matrix.guest_harness_args(old, None) == ((), "")
    assert matrix.guest_harness_args(old, 4)[0] == () and "--jobs" in matrix.guest_harness_args(old, 4)[1]
    new = fake_harness(tmp_path, "  -j,--jobs N   cases in parallel\n  --jobs-file X")
    assert matrix.guest_harness_args(new, None) == ((), "")      # the harness's own automatic choice
    assert matrix.guest_harness_args(new, 6) == (("--jobs", "6"), "")


def test_guest_disks_and_their_label_agree_with_the_harness(tmp_path):
    from pathlib import Path
    from vm import run
    assert run.guest_disks_spec("nvme-4k") == ("raw=/dev/nvme0n2,ext4=/dev/nvme0n3,xfs=/dev/nvme0n4,"
                                               "btrfs=/dev/nvme0n5")
    assert run.guest_disks_spec("virtio-512").startswith("raw=/dev/vdb,")
    header = (Path(matrix.REPO) / "harness/targets/target.h").read_text()
    assert 'kGuestDiskLabel[] = "' + run.GUEST_DISK_LABEL.decode().replace("\n", "\\n") + '"' in header
    img = run.make_disk(tmp_path / "t.img", 1 << 20, label=True)
    assert img.stat().st_size == 1 << 20 and img.open("rb").read(64).startswith(run.GUEST_DISK_LABEL)
    assert not run.make_disk(tmp_path / "s.img", 1 << 20, label=False).read_bytes().strip(b"\0")


def test_a_row_executed_in_no_guest_fails_the_unsharded_run(tmp_path, capsys):
    from types import SimpleNamespace
    ok = {"total": 2, "pass": 1, "skip": 1}
    rows = [("5.10__nvme-4k", {"summary": ok, "results": [{"id": "a", "verdict": "pass"},
                                                          {"id": "b", "verdict": "skip"}]}),
            ("6.12__nvme-4k", {"summary": ok, "results": [{"id": "a", "verdict": "pass"},
                                                          {"id": "b", "verdict": "skip"}]})]
    assert matrix.report(SimpleNamespace(shard=(1, 1)), tmp_path, rows) == 1
    err = capsys.readouterr().err
    assert "1 case(s) executed in no guest" in err and "  b" in err
    # A shard cannot know what the other shards ran: it names them and leaves the verdict to the merge.
    (tmp_path / "s").mkdir()
    assert matrix.report(SimpleNamespace(shard=(1, 2)), tmp_path / "s", rows) == 0
    assert "executed in no guest of this shard" in capsys.readouterr().err
    (tmp_path / "all").mkdir()
    rows[1][1]["results"][1]["verdict"] = "pass"
    assert matrix.report(SimpleNamespace(shard=(1, 1)), tmp_path / "all", rows) == 0


def test_a_guest_left_with_its_fault_parts_frees_its_slot_once():
    import threading
    slots = matrix.Slots(1)
    slot = slots.hold()
    got = []
    t = threading.Thread(target=lambda: got.append(slots.hold()))
    t.start()
    t.join(0.2)
    assert t.is_alive()                    # the one slot is taken: the next guest waits
    slot.release()
    slot.release()                         # on_light, then the end of the target: one release
    t.join(2)
    assert not t.is_alive() and got
    assert not slots.sem.acquire(blocking=False)   # the second release gave nothing back


def test_a_guest_that_gave_its_slot_up_waits_for_one_before_it_boots_again():
    import threading
    slots = matrix.Slots(1)
    slot = slots.hold()
    slot.take()                            # held: taking it again is a no-op, not a second slot
    slot.release()                         # its alone part began (on_light)
    other = slots.hold()                   # the next guest boots in its place
    t = threading.Thread(target=slot.take)  # it panicked: before boot 2 it wants a slot again
    t.start()
    t.join(0.2)
    assert t.is_alive()                    # both places are not its to have: it waits
    other.release()
    t.join(2)
    assert not t.is_alive() and not slots.sem.acquire(blocking=False)
    slot.release()                         # the end of the target gives the one it took back
    assert slots.sem.acquire(blocking=False)


def test_guests_start_newest_kernel_first_and_report_in_plan_order():
    """The longest guests (newest kernels: fewest skips) start first so none is the tail;
    geometries of one kernel keep their order."""
    runs = [(k, d, ("", None)) for k in ("5.10", "6.1", "6.12", "6.18", "7") for d in ("nvme-512", "nvme-4k")]
    order = matrix.start_order(runs)
    assert [runs[j][:2] for j in order[:4]] == [("7", "nvme-512"), ("7", "nvme-4k"),
                                                  ("6.18", "nvme-512"), ("6.18", "nvme-4k")]
    assert [runs[j][0] for j in order[-2:]] == ["5.10", "5.10"]
    assert sorted(order) == list(range(len(runs)))
