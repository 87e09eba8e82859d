"""bench-matrix's per-guest rows: boot time, the catalog part, the device-fault parts (with
the log-ratelimit waits before them) and the rest from each boot, the ids it ran and how many
executed."""
from vm import bench


def test_guest_rows_split_boot_catalog_faults_and_the_rest():
    parts = [{"part": "catalog", "start": 10.0, "end": 60.0},
             {"part": "fault.1", "start": 60.5, "end": 70.0},
             {"part": "fault.2", "start": 75.5, "end": 79.0}]
    doc = {"results": [{"id": "a", "verdict": "pass"}, {"id": "b", "verdict": "skip"},
                       {"id": "f", "verdict": "pass"}],
           "environment": {"vm": {
               "boots": [{"boot_seconds": 10.0, "seconds": 95.0, "parts": parts},
                         {"boot_seconds": 9.0, "seconds": 20.0, "parts": [{"part": "fault.2", "start": 6.0, "end": 9.0}]}],
               "device_fault_parts": [{"armed": ["read_aio:EIO:sector=8"], "ids": ["f"]}]}}}
    rows = bench.guest_rows(doc)
    assert rows == [{"guest": "ordinary+faults", "boots": 2, "boot_seconds": 19.0, "catalog_seconds": 50.0,
                     "fault_seconds": 22.0, "other_seconds": 24.0, "ids": 3, "fault_ids": 1, "executed": 2}]
    report = {"targets": {"6.12__nvme-4k": rows}, "matrix_seconds": 100.0, "guests": 1,
              "guest_seconds": 115.0, "matrix_exit": 0}
    text = bench.table(report)
    assert "whole matrix: 100 s wall for 1 guests" in text and "faults s" in text
