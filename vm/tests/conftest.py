"""pytest setup for vm/: the repo root on sys.path, and the `vm` marker for guest boots."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def pytest_configure(config):
    config.addinivalue_line("markers", "vm: boots a real kernel under QEMU (minutes; needs network once)")
