"""pytest setup for libmatrix/: the repo root on sys.path, and the harness binary to run."""
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


@pytest.fixture
def harness() -> Path:
    """$AIOH_HARNESS, else build/harness; skipped with the reason when neither exists."""
    for cand in (os.environ.get("AIOH_HARNESS"), REPO / "build" / "harness"):
        if cand and Path(cand).is_file():
            return Path(cand)
    pytest.skip("no harness binary: set AIOH_HARNESS or run ./scripts/build")


@pytest.fixture
def cases() -> Path | None:
    """$AIOH_CASES (case tables matching the harness binary), else the harness's own default."""
    c = os.environ.get("AIOH_CASES")
    return Path(c) if c else None
