"""bench-matrix's per-guest rows: boot and catalog time from each guest's boots, the ids it ran
and how many executed, the ordinary guest apart from each fault guest."""
from vm import bench


def test_guest_rows_split_ordinary_and_fault_guests():
    doc = {"results": [{"id": "a", "verdict": "pass"}, {"id": "b", "verdict": "skip"},
                       {"id": "f", "verdict": "pass"}],
           "environment": {"vm": {
               "boots": [{"boot_seconds": 10.0, "seconds": 70.0}, {"boot_seconds": 9.0, "seconds": 20.0}],
               "device_fault_guests": [{"armed": ["read_aio:EIO:sector=8"], "ids": ["f"],
                                        "boots": [{"boot_seconds": 8.0, "seconds": 30.5}]}]}}}
    rows = bench.guest_rows(doc)
    assert rows[0] == {"guest": "ordinary", "boots": 2, "boot_seconds": 19.0, "catalog_seconds": 71.0,
                       "ids": 2, "executed": 1}
    assert rows[1] == {"guest": "read_aio:EIO:sector=8", "boots": 1, "boot_seconds": 8.0,
                       "catalog_seconds": 22.5, "ids": 1, "executed": 1}
    report = {"targets": {"6.12__nvme-4k": rows}, "matrix_seconds": 100.0, "guests": 2,
              "guest_seconds": 120.5, "matrix_exit": 0}
    assert "whole matrix: 100 s wall for 2 guests" in bench.table(report)
