"""Phase classification from recorded consoles (6.1.0-50-amd64 under TCG, recorded by booting the
guest image with a stand-in runner): a sysrq panic mid-run, a hang mid-run, and a boot that QEMU
refused (initrd larger than guest memory)."""
from pathlib import Path

from vm import phases

FIX = Path(__file__).parent / "fixtures"


def read(name):
    return (FIX / name).read_text()


def test_panic_mid_run():
    e = phases.classify(read("console-panic.log"), finished=False, timed_out=False)
    assert e.verdict == "kernel-panic" and e.phase == "run"
    assert "sysrq triggered crash" in e.reason
    assert "Call Trace" in e.excerpt


def test_panic_wins_over_timeout():
    e = phases.classify(read("console-panic.log"), finished=False, timed_out=True)
    assert e.verdict == "kernel-panic"


def test_panic_names_the_running_case():
    assert phases.running_case(read("console-panic.log")) == "test.sysrq-panic@libaio"


def test_hang_mid_run():
    e = phases.classify(read("console-hang.log"), finished=False, timed_out=True)
    assert (e.verdict, e.phase) == ("timeout", "run")
    assert phases.running_case(read("console-hang.log")) == "test.hang@io_uring"


def test_boot_failure_carries_qemu_stderr():
    e = phases.classify(read("console-bootfail.log"), finished=False, timed_out=False,
                        qemu_err=read("qemu-bootfail.err"))
    assert (e.verdict, e.phase) == ("boot-failed", "boot")
    assert "initrd is too large" in e.reason and "initrd is too large" in e.excerpt


def test_hang_during_boot_is_a_timeout_in_boot():
    e = phases.classify("", finished=False, timed_out=True)
    assert (e.verdict, e.phase) == ("timeout", "boot")


def test_setup_failure_is_no_result():
    con = "AIOH-PHASE setup t=1.0\nAIOH-SETUP-FAILED disk /dev/nvme0n1 did not appear\n"
    e = phases.classify(con, finished=False, timed_out=False)
    assert (e.verdict, e.phase) == ("no-result", "setup") and "nvme0n1" in e.reason


def test_vanished_guest_mid_run_is_no_result():
    e = phases.classify(read("console-hang.log"), finished=False, timed_out=False)
    assert (e.verdict, e.phase) == ("no-result", "run")


def test_finished_guest_has_no_vm_verdict():
    con = read("console-hang.log") + "AIOH-PHASE collect t=12 rc=0\n"
    e = phases.classify(con, finished=True, timed_out=False)
    assert e.verdict is None and e.phase == "collect"


def test_sub_phase_markers_map_to_phases():
    assert phases.last_phase("AIOH-PHASE setup t=1\nAIOH-PHASE setup-mkfs t=2\n") == "setup"


def test_case_marks_that_end_close_the_case():
    con = "aioharness: begin a@x\naioharness: end a@x\n"
    assert phases.running_case(con) is None


def test_a_panic_in_the_alone_part_is_classed_alone():
    # The catalog's marker, then the alone part's, then a panic in one of its rows.
    con = read("console-panic.log").replace("AIOH-PHASE run t=15.87 2 ids\n",
                                            "AIOH-PHASE run t=15.87 2 ids\nAIOH-PHASE alone t=40.1 1 ids\n")
    assert "AIOH-PHASE alone" in con
    e = phases.classify(con, finished=False, timed_out=False)
    assert (e.verdict, e.phase) == ("kernel-panic", "alone")


def test_the_guest_marks_the_alone_part_with_a_phase_the_classifier_knows():
    init = (Path(phases.__file__).parent / "guest" / "init.sh").read_text().splitlines()
    at = next(i for i, ln in enumerate(init) if ln.strip().startswith("run_part alone "))
    marks = [ln.split()[1] for ln in init[:at] if ln.strip().startswith("phase ")]
    assert phases.last_phase(f"AIOH-PHASE {marks[-1]} t=1\n") == "alone"
    # Every marker the guest prints is a phase the classifier knows.
    every = [ln.split()[1].strip('"') for ln in init if ln.strip().startswith("phase ")]
    assert all(m.split("-")[0] in phases.PHASES for m in every), every


def test_an_unknown_marker_leaves_the_phase_as_it_was():
    assert phases.last_phase("AIOH-PHASE run t=1\nAIOH-PHASE bogus t=2\n") == "run"
