"""The library catalog: rows of libs.toml resolved to concrete Debian package versions.

Resolution is a pure function over what apt knows (package, version, suite) so it is unit-tested
without a network; `fetch.resolve_with_apt` asks the private apt for those triples.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

CATALOG = Path(__file__).with_name("libs.toml")
LIBRARIES = ("liburing", "libaio")
# The soname each library has in the system build (what a swap must match).
SYSTEM_SONAME = {"liburing": "liburing.so.2", "libaio": "libaio.so.1"}


class ResolutionError(LookupError):
    pass


@dataclass(frozen=True)
class LibBuild:
    id: str            # liburing-2.9
    library: str       # liburing | libaio
    upstream: str      # 2.9
    suite: str = ""    # trixie ("" for a user prefix)
    runtime: str = ""  # liburing2
    dev: str = ""      # liburing-dev
    soname: str = ""   # liburing.so.2
    default: bool = False
    note: str = ""
    prefix: str = ""   # a user's own build: DIR with include/ and lib/
    uapi: str = ""     # the suite's kernel uapi headers package the dev headers need (linux-libc-dev)

    @property
    def swap_reason(self) -> str:
        """Why swap mode cannot run this build ("" when it can): an in-place upgrade replaces a
        file of the same soname, so another soname is not a swap."""
        want = SYSTEM_SONAME[self.library]
        if self.soname and self.soname != want:
            return f"soname {self.soname} differs from the system build's {want}: no in-place swap"
        return ""


def load(path: Path = CATALOG) -> list[LibBuild]:
    data = tomllib.loads(Path(path).read_text())
    out = []
    for row in data.get("build", []):
        b = LibBuild(id=str(row["id"]), library=str(row["library"]), upstream=str(row["upstream"]),
                     suite=str(row["suite"]), runtime=str(row["runtime"]), dev=str(row["dev"]),
                     soname=str(row.get("soname", "")), default=bool(row.get("default", False)),
                     note=str(row.get("note", "")), uapi=str(row.get("uapi", "")))
        if b.library not in LIBRARIES:
            raise ValueError(f"{path}: build {b.id}: unknown library {b.library!r}")
        out.append(b)
    ids = [b.id for b in out]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{path}: duplicate build ids")
    return out


def select(builds: list[LibBuild], wanted: str | None) -> list[LibBuild]:
    """`--libs liburing-2.9,libaio-0.3.112` picks rows by id; a bare library name picks all of its
    rows; no selection picks the default rows. An unknown name is an error naming the known ones."""
    if not wanted:
        return [b for b in builds if b.default]
    out: list[LibBuild] = []
    for w in (x.strip() for x in wanted.split(",")):
        if not w:
            continue
        hit = [b for b in builds if b.id == w] or [b for b in builds if b.library == w]
        if not hit:
            raise ResolutionError(f"unknown library build {w!r} (known: {', '.join(b.id for b in builds)})")
        out += [b for b in hit if b not in out]
    return out


def prefix_build(library: str, prefix: str) -> LibBuild:
    """A user's own build installed under `prefix` (include/ and lib/ as `make install` leaves them)."""
    p = Path(prefix).resolve()
    return LibBuild(id=f"{library}-prefix-{p.name}", library=library, upstream="", prefix=str(p))


def upstream_of(version: str) -> str:
    """Debian version -> upstream part: '1:2.9-1+b1' -> '2.9', '0.3.113-8+b1' -> '0.3.113'."""
    v = version.split(":", 1)[-1]
    return v.rsplit("-", 1)[0] if "-" in v else v


def version_key(version: str) -> tuple:
    """Sort key close enough to dpkg's for revisions of one upstream: digits as numbers, '~' first."""
    def parts(s: str) -> tuple:
        return tuple((0, int(t)) if t.isdigit() else (-1, "") if t == "~" else (1, t)
                     for t in re.findall(r"\d+|~|[A-Za-z]+|[^\dA-Za-z~]", s)) + ((-0.5, ""),)
    v = version.split(":", 1)[-1]
    up, _, rev = v.rpartition("-") if "-" in v else (v, "", "")
    return (parts(up), parts(rev))


def newest_in_suite(package: str, suite: str, candidates) -> str:
    """The newest version of `package` in `suite` (for a build's uapi headers)."""
    pool = [c.version for c in candidates if c.package == package and c.suite == suite]
    if not pool:
        raise ResolutionError(f"no {package} in {suite}")
    return max(pool, key=version_key)


def resolve(build: LibBuild, candidates) -> tuple[str, str]:
    """(runtime version, dev version) of `build` among (package, version, suite) candidates: the
    newest revision of the upstream release in the build's suite. The dev package must come from
    the same version (one source, one ABI) or the rebuild would mix headers and library."""
    def pick(pkg: str) -> str:
        pool = [c.version for c in candidates
                if c.package == pkg and c.suite == build.suite and upstream_of(c.version) == build.upstream]
        if not pool:
            have = sorted({f"{c.version} ({c.suite})" for c in candidates if c.package == pkg})
            raise ResolutionError(f"{build.id}: no {pkg} {build.upstream} in {build.suite}"
                                  f" (apt has: {', '.join(have) or 'none'})")
        return max(pool, key=version_key)
    rt, dev = pick(build.runtime), pick(build.dev)
    # A binNMU (+bN) rebuilds one binary package of a source without changing it.
    if re.sub(r"\+b\d+$", "", rt) != re.sub(r"\+b\d+$", "", dev):
        raise ResolutionError(f"{build.id}: {build.runtime} {rt} and {build.dev} {dev} differ in {build.suite}")
    return rt, dev
