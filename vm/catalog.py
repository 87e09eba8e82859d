"""The kernel catalog: series from vm/kernels.toml resolved to concrete Debian packages.

Resolution is a pure function over what apt knows (package name, version, suite), so it is
unit-tested without a network; `resolve_all` asks the private apt for those triples.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

CATALOG = Path(__file__).with_name("kernels.toml")
# linux-image-6.1.0-50-amd64 (old ABI naming) and linux-image-7.3.4+deb13-amd64 (new naming).
IMAGE_RE = re.compile(r"^linux-image-(\d+\.\d+[.\d]*(?:-\d+)?(?:\+deb\d+)?)-amd64$")


@dataclass(frozen=True)
class Candidate:
    package: str       # linux-image-6.1.0-50-amd64
    version: str       # 6.1.176-1
    suite: str         # bookworm

    @property
    def abi(self) -> str:
        return IMAGE_RE.match(self.package).group(1) + "-amd64"


@dataclass(frozen=True)
class KernelSpec:
    series: str
    note: str = ""
    default: bool = False


def load_catalog(path: Path = CATALOG) -> list[KernelSpec]:
    data = tomllib.loads(Path(path).read_text())
    return [KernelSpec(str(k["series"]), k.get("note", ""), bool(k.get("default", False)))
            for k in data.get("kernel", [])]


def version_key(version: str) -> tuple:
    """Sort key for Debian kernel versions: numeric runs compared as numbers; '~' sorts first."""
    upstream, _, rev = version.partition("-")
    def parts(s: str) -> tuple:
        out = []
        for tok in re.findall(r"\d+|~|[A-Za-z]+|[^\dA-Za-z~]", s):
            out.append((0, int(tok)) if tok.isdigit() else (-1, 0) if tok == "~" else (1, tok))
        # The end of the string sorts after '~' and before anything else, as in dpkg.
        return tuple(out) + ((-0.5, 0),)
    return (parts(upstream), parts(rev))


def in_series(series: str, version: str) -> bool:
    want = series.split(".")
    have = version.split("-")[0].split(".")
    return have[:len(want)] == want


def resolve(series: str, candidates: list[Candidate]) -> Candidate:
    """Newest candidate whose upstream version belongs to the series."""
    pool = [c for c in candidates if IMAGE_RE.match(c.package) and in_series(series, c.version)]
    if not pool:
        raise LookupError(f"no linux-image-*-amd64 package of series {series}")
    return max(pool, key=lambda c: version_key(c.version))


def select(specs: list[KernelSpec], wanted: str | None) -> list[KernelSpec]:
    """--kernels 5.10,6.1 picks rows by series; a series not in the catalog is still allowed."""
    if not wanted:
        return [s for s in specs if s.default]
    by = {s.series: s for s in specs}
    return [by.get(w, KernelSpec(w)) for w in (x.strip() for x in wanted.split(",")) if w]


def parse_madison(text: str) -> list[Candidate]:
    """`apt-cache madison` lines: `pkg | version | mirror suite/main amd64 Packages`."""
    out = []
    for line in text.splitlines():
        cols = [c.strip() for c in line.split("|")]
        if len(cols) == 3 and cols[2].endswith("Packages"):
            suite = cols[2].split()[-3].split("/")[0]
            out.append(Candidate(cols[0], cols[1], suite))
    return out
