"""Fetch Debian kernel packages through a private apt configuration.

The machine's own apt state is never touched: a sources list, state and cache live under the
cache dir, the mirror is the one the machine's apt sources already use (derived, never written
in the repo), and Release files are verified with the distribution's archive keyrings.
"""
from __future__ import annotations

import glob
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

SUITES = ("bullseye", "bookworm", "trixie", "trixie-backports", "sid")
KEYRING_GLOB = "/usr/share/keyrings/debian-archive-*.gpg"


@dataclass(frozen=True)
class Source:
    uri: str
    suites: tuple[str, ...]
    components: tuple[str, ...]


def parse_deb822(text: str) -> list[Source]:
    """Stanzas of a deb822 .sources file that are binary (`Types: deb`) and enabled."""
    out = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            key, _, val = line.partition(":")
            fields[key.strip().lower()] = val.strip()
        if "deb" not in fields.get("types", "").split():
            continue
        if fields.get("enabled", "yes").lower() == "no":
            continue
        for uri in fields.get("uris", "").split():
            out.append(Source(uri, tuple(fields.get("suites", "").split()),
                              tuple(fields.get("components", "main").split())))
    return out


def parse_one_line(text: str) -> list[Source]:
    """Lines of a classic sources.list: `deb [opts] URI suite comp...`."""
    out = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line.startswith("deb "):
            continue
        line = re.sub(r"\[[^\]]*\]", "", line[4:]).split()
        if len(line) >= 2:
            out.append(Source(line[0], (line[1],), tuple(line[2:]) or ("main",)))
    return out


def pick_mirror(sources: list[Source]) -> str:
    """The URI of the main archive: a source carrying a release suite, not the security archive."""
    for s in sources:
        if any(not su.endswith("-security") for su in s.suites) and "security" not in s.uri:
            return s.uri.rstrip("/")
    raise LookupError("no Debian archive found in the machine's apt sources")


def machine_mirror(etc: str = "/etc/apt") -> str:
    sources: list[Source] = []
    for path in sorted(glob.glob(f"{etc}/sources.list.d/*.sources")):
        sources += parse_deb822(Path(path).read_text())
    for path in [f"{etc}/sources.list"] + sorted(glob.glob(f"{etc}/sources.list.d/*.list")):
        if os.path.exists(path):
            sources += parse_one_line(Path(path).read_text())
    return pick_mirror(sources)


def keyrings() -> list[str]:
    return sorted(k for k in glob.glob(KEYRING_GLOB) if "removed" not in k)


def sources_list(mirror: str, suites=SUITES, keys: list[str] | None = None) -> str:
    signed = f" [signed-by={','.join(keys)}]" if keys else ""
    return "".join(f"deb{signed} {mirror} {s} main\n" for s in suites)


def apt_conf(root: Path) -> str:
    """apt.conf for the private tree; /etc/apt/apt.conf.d is still read (proxies stay honoured)."""
    return "\n".join([
        f'Dir::State "{root}/state";',
        f'Dir::State::status "{root}/state/status";',
        f'Dir::Cache "{root}/cache";',
        f'Dir::Etc::SourceList "{root}/sources.list";',
        f'Dir::Etc::SourceParts "{root}/sources.list.d";',
        f'Dir::Etc::Preferences "{root}/preferences";',
        f'Dir::Etc::PreferencesParts "{root}/preferences.d";',
        'APT::Architecture "amd64";',
        'APT::Architectures { "amd64"; };',
        'Acquire::Languages "none";',
        'Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled "false";',
        # A snapshot mirror serves Release files past their Valid-Until; signatures still count.
        'Acquire::Check-Valid-Until "false";',
        # Downloads land in the user's cache, which apt's _apt sandbox user cannot write.
        'APT::Sandbox::User "root";',
        "",
    ])


class PrivateApt:
    """apt-get/apt-cache bound to a private configuration under `root`."""

    def __init__(self, root: Path, mirror: str | None = None):
        self.root = Path(root)
        self.mirror = mirror or machine_mirror()

    def _prepare(self) -> None:
        for d in ("state/lists/partial", "cache/archives/partial", "sources.list.d", "preferences.d"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        (self.root / "state/status").touch()
        (self.root / "sources.list").write_text(sources_list(self.mirror, keys=keyrings()))
        (self.root / "apt.conf").write_text(apt_conf(self.root))

    def env(self) -> dict[str, str]:
        return dict(os.environ, APT_CONFIG=str(self.root / "apt.conf"), DEBIAN_FRONTEND="noninteractive")

    def update(self, refresh: bool = False) -> None:
        self._prepare()
        lists = list((self.root / "state/lists").glob("*_Packages*"))
        if lists and not refresh:
            return
        subprocess.run(["apt-get", "-q", "update"], env=self.env(), check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def policy_versions(self, packages: list[str]) -> str:
        """`apt-cache show` text of the named packages (all versions, all suites)."""
        r = subprocess.run(["apt-cache", "show", *packages], env=self.env(),
                           capture_output=True, text=True)
        return r.stdout

    def pkgnames(self, prefix: str) -> list[str]:
        r = subprocess.run(["apt-cache", "pkgnames", prefix], env=self.env(),
                           capture_output=True, text=True, check=True)
        return sorted(r.stdout.split())

    def download(self, spec: str, dest: Path) -> Path:
        """`apt-get download name=version` into dest; returns the .deb path."""
        dest.mkdir(parents=True, exist_ok=True)
        subprocess.run(["apt-get", "-q", "download", spec], env=self.env(), cwd=dest, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        name = spec.split("=")[0]
        debs = sorted(dest.glob(f"{name}_*.deb"), key=lambda p: p.stat().st_mtime)
        if not debs:
            raise FileNotFoundError(f"apt-get download {spec} left no .deb in {dest}")
        return debs[-1]
