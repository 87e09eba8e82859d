"""The mutation campaign in CI: every mutant of libmatrix/mutants.toml, run on its quick selection
(the cases of its family that state the behaviour it breaks), is killed, and the unbroken system
libraries pass that same selection without one failing case. One baseline per interface and one
short harness run per mutant (a per-case watchdog of 5 s bounds the mutants that hang)."""
import pytest

from libmatrix import mutation as M


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    harness = M.default_harness()
    if harness is None:
        pytest.skip("no harness binary: set AIOH_HARNESS or run ./scripts/build")
    mutants = M.load()
    doc = M.campaign(mutants, harness, tmp_path_factory.mktemp("mutants"), quick=True, full=False,
                     timeout=5, log=lambda s: None)
    return mutants, doc


def test_manifest_names_every_shim_once():
    mutants = M.load()
    assert len({m.id for m in mutants}) == len(mutants) >= 20
    assert all(m.defect and m.quick for m in mutants)


def test_unbroken_libraries_pass_the_quick_selection(campaign):
    _, doc = campaign
    assert set(doc["baseline_failures"]) == {"io_uring", "libaio"}
    assert doc["baseline_failures"] == {"io_uring": [], "libaio": []}


def test_every_mutant_is_killed(campaign):
    mutants, _ = campaign
    survivors = [f"{m.id} ({m.source.name}, selection {m.quick})" for m in mutants if m.status != "killed"]
    assert not survivors, "survived: " + "; ".join(survivors)
    # Killed by its own family's cases, never by a harness that could not start.
    assert all(not k["id"].startswith("(") for m in mutants for k in m.killed_by)
