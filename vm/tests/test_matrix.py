"""The CLI's own decisions, without booting: target selection and sharding from the catalog,
usage errors (exit 2), the boot path (measured per kernel, else the measured default), and the
summary table (VM verdicts in their own columns, `timeout` once)."""
import json

from vm import matrix, qemu


def test_list_targets_default_catalog(capsys):
    assert matrix.main(["--list-targets", "--devices", "nvme-512,nvme-4k"]) == 0
    lines = capsys.readouterr().out.split("\n")
    assert lines[:2] == ["5.10 nvme-512", "5.10 nvme-4k"] and "7 nvme-4k" in lines


def test_list_targets_shard(capsys):
    assert matrix.main(["--list-targets", "--kernels", "6.1,7", "--devices", "virtio,nvme-4k",
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
