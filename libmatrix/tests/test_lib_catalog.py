"""Catalog resolution: each libs.toml row picks its suite's package of its upstream release, the
runtime and dev packages must agree, selection is by id or library, and a soname other than the
system's (libaio1t64) is no in-place swap."""
import pytest

from libmatrix import catalog as C
from vm.catalog import parse_madison

MADISON = """\
 liburing2 |     2.15-1 | http://mirror.invalid/debian sid/main amd64 Packages
 liburing2 |      2.9-1 | http://mirror.invalid/debian trixie/main amd64 Packages
 liburing2 |      2.3-3 | http://mirror.invalid/debian bookworm/main amd64 Packages
liburing-dev |     2.15-1 | http://mirror.invalid/debian sid/main amd64 Packages
liburing-dev |      2.9-1 | http://mirror.invalid/debian trixie/main amd64 Packages
liburing-dev |      2.3-3 | http://mirror.invalid/debian bookworm/main amd64 Packages
liburing-dev |      0.7-3 | http://mirror.invalid/debian bullseye/main amd64 Packages
   libaio1 |  0.3.113-4 | http://mirror.invalid/debian bookworm/main amd64 Packages
   libaio1 |  0.3.112-9 | http://mirror.invalid/debian bullseye/main amd64 Packages
   libaio1 |  0.3.112-8 | http://mirror.invalid/debian bullseye/main amd64 Packages
libaio1t64 | 0.3.113-10 | http://mirror.invalid/debian sid/main amd64 Packages
libaio1t64 | 0.3.113-8+b1 | http://mirror.invalid/debian trixie/main amd64 Packages
libaio-dev | 0.3.113-10 | http://mirror.invalid/debian sid/main amd64 Packages
libaio-dev | 0.3.113-8 | http://mirror.invalid/debian trixie/main amd64 Packages
libaio-dev |  0.3.113-4 | http://mirror.invalid/debian bookworm/main amd64 Packages
libaio-dev |  0.3.112-9 | http://mirror.invalid/debian bullseye/main amd64 Packages
libaio-dev |  0.3.112-8 | http://mirror.invalid/debian bullseye/main amd64 Packages
"""


@pytest.fixture
def builds():
    return {b.id: b for b in C.load()}


@pytest.fixture
def cands():
    return parse_madison(MADISON)


def test_catalog_has_the_issue_builds(builds):
    assert set(builds) == {"liburing-2.3", "liburing-2.9", "liburing-2.15",
                           "libaio-0.3.112", "libaio-0.3.113", "libaio-0.3.113-t64"}
    assert builds["liburing-2.9"].suite == "trixie"
    assert builds["libaio-0.3.113-t64"].runtime == "libaio1t64"


@pytest.mark.parametrize("bid,version", [("liburing-2.3", "2.3-3"), ("liburing-2.9", "2.9-1"),
                                         ("liburing-2.15", "2.15-1"),
                                         # the newest revision of the release in its suite
                                         ("libaio-0.3.112", "0.3.112-9"), ("libaio-0.3.113", "0.3.113-4")])
def test_resolve_picks_the_suite_package_of_the_release(builds, cands, bid, version):
    assert C.resolve(builds[bid], cands) == (version, version)


def test_binnmu_of_one_package_still_resolves(builds, cands):
    # trixie's libaio1t64 is 0.3.113-8+b1 while libaio-dev is 0.3.113-8: one source.
    assert C.resolve(builds["libaio-0.3.113-t64"], cands) == ("0.3.113-8+b1", "0.3.113-8")


def test_missing_release_names_what_apt_has(builds, cands):
    gone = [c for c in cands if c.suite != "sid"]
    with pytest.raises(C.ResolutionError, match=r"no liburing2 2\.15 in sid.*2\.9-1 \(trixie\)"):
        C.resolve(builds["liburing-2.15"], gone)


def test_mismatched_runtime_and_dev_is_refused(builds, cands):
    odd = [c for c in cands if not (c.package == "libaio-dev" and c.version == "0.3.112-9")]
    with pytest.raises(C.ResolutionError, match="differ"):
        C.resolve(builds["libaio-0.3.112"], odd)


def test_select_by_id_by_library_and_default(builds):
    all_ = list(builds.values())
    assert [b.id for b in C.select(all_, "liburing-2.9,libaio-0.3.112")] == ["liburing-2.9", "libaio-0.3.112"]
    assert [b.id for b in C.select(all_, "liburing")] == ["liburing-2.3", "liburing-2.9", "liburing-2.15"]
    assert C.select(all_, None) == [b for b in all_ if b.default]
    with pytest.raises(C.ResolutionError, match="unknown library build 'liburing-9'"):
        C.select(all_, "liburing-9")


def test_swap_needs_the_system_soname(builds):
    assert builds["libaio-0.3.112"].swap_reason == ""
    assert builds["liburing-2.15"].swap_reason == ""
    assert "libaio.so.1t64" in builds["libaio-0.3.113-t64"].swap_reason


def test_upstream_of_strips_epoch_and_revision():
    assert C.upstream_of("1:2.9-1+b1") == "2.9"
    assert C.upstream_of("0.3.113-8+b1") == "0.3.113"
    assert C.upstream_of("2.3") == "2.3"


def test_duplicate_ids_are_rejected(tmp_path):
    row = ('[[build]]\nid="x"\nlibrary="libaio"\nupstream="1"\nsuite="s"\nruntime="r"\ndev="d"\n')
    (tmp_path / "libs.toml").write_text(row + row)
    with pytest.raises(ValueError, match="duplicate"):
        C.load(tmp_path / "libs.toml")
