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
                     "alone_seconds": 0.0, "fault_seconds": 22.0, "other_seconds": 24.0, "ids": 3, "fault_ids": 1,
                     "executed": 2}]
    report = {"targets": {"6.12__nvme-4k": rows}, "matrix_seconds": 100.0, "guests": 1,
              "guest_seconds": 115.0, "matrix_exit": 0}
    text = bench.table(report)
    assert "whole matrix: 100 s wall for 1 guests" in text and "faults s" in text


def test_alone_part_is_its_own_column_between_catalog_and_faults():
    parts = [{"part": "catalog", "start": 10.0, "end": 60.0},
             {"part": "alone", "start": 60.5, "end": 80.0},
             {"part": "fault.1", "start": 85.5, "end": 90.0}]
    doc = {"results": [{"id": "a", "verdict": "pass"}],
           "environment": {"vm": {"boots": [{"boot_seconds": 10.0, "seconds": 92.0, "parts": parts}]}}}
    [row] = bench.guest_rows(doc)
    # The alone span starts where the catalog ended; the fault span where the alone part ended.
    assert (row["catalog_seconds"], row["alone_seconds"], row["fault_seconds"], row["other_seconds"]) == \
        (50.0, 20.0, 10.0, 2.0)
    report = {"targets": {"6.12__nvme-4k": [row]}, "matrix_seconds": 100.0, "guests": 1,
              "guest_seconds": 92.0, "matrix_exit": 0, "host_cpu_seconds": 150.0, "host_cpus": 2,
              "host_cpu_busy_percent": 75.0}
    text = bench.table(report)
    assert "alone s" in text and "host CPU of the guests: 150 s, 75 % of 2 cores" in text
