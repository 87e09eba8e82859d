"""Catalog resolution: a series picks the newest linux-image-*-amd64 of that series, in either
Debian naming (6.1.0-50-amd64, 7.3.4+deb13-amd64), and never a -dbg/-unsigned/cloud/rt flavour."""
from vm import catalog
from vm.catalog import Candidate

MADISON = """\
linux-image-5.10.0-30-amd64 | 5.10.218-1 | http://mirror.invalid/debian bullseye/main amd64 Packages
linux-image-5.10.0-32-amd64 | 5.10.223-1 | http://mirror.invalid/debian bullseye/main amd64 Packages
linux-image-6.1.0-47-amd64 | 6.1.170-1 | http://mirror.invalid/debian bookworm/main amd64 Packages
linux-image-6.1.0-50-amd64 |  6.1.176-1 | http://mirror.invalid/debian bookworm/main amd64 Packages
linux-image-6.12.9+deb13-amd64 | 6.12.9-1 | http://mirror.invalid/debian trixie/main amd64 Packages
linux-image-6.12.117+deb13-amd64 | 6.12.117-1 | http://mirror.invalid/debian trixie/main amd64 Packages
linux-image-6.18.15+deb13-amd64 | 6.18.15-1~bpo13+1 | http://mirror.invalid/debian trixie-backports/main amd64 Packages
linux-image-7.2.13+deb14-amd64 |   7.2.13-1 | http://mirror.invalid/debian sid/main amd64 Packages
linux-image-7.3.4+deb13-amd64 | 7.3.4-1~bpo13+1 | http://mirror.invalid/debian trixie-backports/main amd64 Packages
linux-image-7.3.4+deb13-cloud-amd64 | 7.3.4-1~bpo13+1 | http://mirror.invalid/debian trixie-backports/main amd64 Packages
linux-image-7.3.4+deb13-amd64-dbg | 7.3.4-1~bpo13+1 | http://mirror.invalid/debian trixie-backports/main amd64 Packages
"""


def cands():
    return catalog.parse_madison(MADISON)


def test_parse_madison_reads_package_version_suite():
    c = cands()[0]
    assert (c.package, c.version, c.suite) == ("linux-image-5.10.0-30-amd64", "5.10.218-1", "bullseye")


def test_series_resolves_to_newest_of_that_series():
    assert catalog.resolve("5.10", cands()).package == "linux-image-5.10.0-32-amd64"
    assert catalog.resolve("6.1", cands()).package == "linux-image-6.1.0-50-amd64"


def test_numeric_not_lexical_version_order():
    assert catalog.resolve("6.12", cands()).version == "6.12.117-1"


def test_series_6_1_does_not_match_6_12_or_6_18():
    assert catalog.resolve("6.1", cands()).version.startswith("6.1.")


def test_major_only_series_takes_newest_across_suites():
    c = catalog.resolve("7", cands())
    assert (c.package, c.suite) == ("linux-image-7.3.4+deb13-amd64", "trixie-backports")
    assert c.abi == "7.3.4+deb13-amd64"


def test_flavours_are_never_chosen():
    pool = [c for c in cands() if "cloud" in c.package or "dbg" in c.package]
    try:
        catalog.resolve("7", pool)
    except LookupError:
        return
    raise AssertionError("a cloud/dbg flavour was accepted")


def test_backport_tilde_sorts_below_release():
    assert catalog.version_key("6.18.15-1~bpo13+1") < catalog.version_key("6.18.15-1")


def test_unknown_series_is_an_error():
    try:
        catalog.resolve("4.19", cands())
    except LookupError as e:
        assert "4.19" in str(e)
    else:
        raise AssertionError("no error")


def test_catalog_file_has_the_issue_series_as_defaults():
    specs = catalog.load_catalog()
    assert [s.series for s in specs if s.default] == ["5.10", "6.1", "6.12", "6.18", "7"]


def test_select_by_series_and_default():
    specs = catalog.load_catalog()
    assert [s.series for s in catalog.select(specs, "6.1,7")] == ["6.1", "7"]
    assert len(catalog.select(specs, None)) == 5


def test_candidate_abi_old_naming():
    assert Candidate("linux-image-6.1.0-50-amd64", "6.1.176-1", "bookworm").abi == "6.1.0-50-amd64"
