"""The result stream: only complete lines count, the last copy of a result wins, guest records
are understood, and the merged document counts VM verdicts apart from test verdicts."""
import json

from vm import results


def line(obj):
    return (json.dumps(obj) + "\n").encode()


def test_partial_line_waits_for_its_end():
    s = results.Stream()
    data = line({"type": "result", "id": "a@libaio", "verdict": "pass"})
    s.feed(data[:10])
    assert s.results == {}
    s.feed(data[10:])
    assert s.results["a@libaio"]["verdict"] == "pass"


def test_last_copy_wins_and_junk_is_counted():
    s = results.Stream()
    s.feed(line({"type": "result", "id": "a", "verdict": "pass"}) + b'{"type": "res\n' +
           line({"type": "result", "id": "a", "verdict": "fail"}))
    assert s.results["a"]["verdict"] == "fail" and s.junk == 1


def test_guest_records():
    s = results.Stream()
    s.feed(line({"type": "aioh-phase", "phase": "run"})
           + line({"type": "environment", "schema": "aioharness-result/1", "run": {"argv": ["harness"]},
                   "environment": {"kernel_release": "6.1"}})
           + line({"type": "summary", "finished": "t", "summary": {"total": 3}})
           + line({"type": "aioh-exit", "rc": 1}))
    assert s.phase == "run" and s.exit_rc == 1 and s.environment == {"kernel_release": "6.1"}
    assert s.guest_run == {"argv": ["harness"]} and s.summary == {"total": 3}


def test_document_orders_results_and_counts_vm_verdicts():
    cases = [{"id": "x.a@libaio", "interface": "libaio"}, {"id": "x.b@io_uring", "interface": "io_uring"}]
    res = {"x.b@io_uring": results.vm_result(cases[1], "kernel-panic", "Kernel panic", "run", 1, "..."),
           "x.a@libaio": {"id": "x.a@libaio", "interface": "libaio", "verdict": "pass"}}
    doc = results.document(cases, res, {"kernel_release": "6.1.0"}, {"device": "nvme-4k"}, 0.0, ["m"])
    assert doc["schema"] == "aioharness-result/1"
    assert [r["id"] for r in doc["results"]] == ["x.a@libaio", "x.b@io_uring"]
    assert doc["environment"]["vm"] == {"device": "nvme-4k"}
    s = doc["summary"]
    assert (s["total"], s["pass"], s["kernel-panic"]) == (2, 1, 1)
    assert s["by_interface"]["io_uring"]["kernel-panic"] == 1
