"""The result stream: only complete lines count, the last copy of a result wins, guest records
are understood, each part keeps its own environment (the catalog's is the document's), and the
merged document counts VM verdicts apart from test verdicts."""
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
    assert s.guest_runs == [{"argv": ["harness"], "part": "catalog"}] and s.summary == {"total": 3}


def test_each_part_keeps_its_environment_and_times():
    s = results.Stream()
    env = lambda rel, run: line({"type": "environment", "run": {"n": run}, "environment": {"kernel_release": rel}})
    s.feed(line({"type": "aioh-part", "part": "catalog", "ids": 5, "t": 9.5}) + env("catalog", 1)
           + env("resent", 1) + line({"type": "aioh-part-end", "part": "catalog", "rc": 1, "t": 60.0})
           + line({"type": "aioh-part", "part": "fault.1", "ids": 2, "t": 65.5}) + env("fault", 2)
           + line({"type": "aioh-part-end", "part": "fault.1", "rc": 0, "t": 70.0}))
    assert s.environment == {"kernel_release": "catalog"}             # the first copy, the catalog's
    assert s.environments["fault.1"] == {"kernel_release": "fault"}
    assert [g["part"] for g in s.guest_runs] == ["catalog", "fault.1"]
    assert s.parts == {"catalog": {"ids": 5, "start": 9.5, "end": 60.0, "rc": 1},
                       "fault.1": {"ids": 2, "start": 65.5, "end": 70.0, "rc": 0}}


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
