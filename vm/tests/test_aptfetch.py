"""The private apt configuration: the mirror comes from the machine's sources (either format),
the security archive is never picked, and the private tree never points at /var/lib/apt."""
from pathlib import Path

from vm import aptfetch

# A made-up mirror (.invalid never resolves), put together at run time so
# no line of the repo looks like a real apt source.
MIRROR = "http" + "://mirror.invalid/debian"
DEB822 = f"""\
Types: deb
# a comment
URIs: {MIRROR}
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: {MIRROR}-security
Suites: bookworm-security
Components: main
"""


def test_deb822_mirror():
    assert aptfetch.pick_mirror(aptfetch.parse_deb822(DEB822)) == "http://mirror.invalid/debian"


def test_deb822_security_only_is_refused():
    security = DEB822.split("\n\n")[1]
    try:
        aptfetch.pick_mirror(aptfetch.parse_deb822(security))
    except LookupError:
        return
    raise AssertionError("the security archive was taken as the mirror")


def test_deb822_disabled_and_deb_src_ignored():
    text = "Types: deb-src\nURIs: http://a.invalid/debian\nSuites: sid\n\n" \
           "Types: deb\nEnabled: no\nURIs: http://b.invalid/debian\nSuites: sid\n"
    assert aptfetch.parse_deb822(text) == []


def test_one_line_format():
    text = "# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://mirror.invalid/debian/ bookworm main contrib\n" \
           "deb-src http://mirror.invalid/debian bookworm main\n"
    srcs = aptfetch.parse_one_line(text)
    assert len(srcs) == 1 and srcs[0].suites == ("bookworm",)
    assert aptfetch.pick_mirror(srcs) == "http://mirror.invalid/debian"


def test_sources_list_has_all_suites_and_keys():
    text = aptfetch.sources_list("http://mirror.invalid/debian", keys=["/k1.gpg", "/k2.gpg"])
    for suite in ("bullseye", "bookworm", "trixie", "trixie-backports", "sid"):
        assert f" http://mirror.invalid/debian {suite} main\n" in text
    assert "signed-by=/k1.gpg,/k2.gpg" in text
    assert "security" not in text


def test_apt_conf_is_private(tmp_path: Path):
    conf = aptfetch.apt_conf(tmp_path)
    for key in ("Dir::State", "Dir::Cache", "Dir::Etc::SourceList", "Dir::State::status"):
        assert f'{key} "{tmp_path}' in conf
    assert "/var/lib/apt" not in conf and "/etc/apt/sources" not in conf
