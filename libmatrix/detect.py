"""Which library file a result was really produced with, read from the result itself.

The harness's probe asks the dynamic loader (dladdr on io_uring_queue_init / io_queue_init) and
writes environment.libraries.<lib>.path; the matrix trusts that, not what it asked for, so a swap
that the loader ignored (a RUNPATH, a preload, a wrong soname) shows up as a mismatch.
"""
from __future__ import annotations

import os
from pathlib import Path


def loaded(doc: dict, library: str) -> str:
    """environment.libraries.<library>.path of a harness result ("" when absent)."""
    libs = (doc.get("environment") or {}).get("libraries") or {}
    return str((libs.get(library) or {}).get("path") or "")


def loaded_version(doc: dict, library: str) -> str:
    libs = (doc.get("environment") or {}).get("libraries") or {}
    return str((libs.get(library) or {}).get("version") or "")


def is_inside(path: str, directory: Path) -> bool:
    """True when `path` (after resolving links) is a file in `directory` (after resolving links)."""
    if not path:
        return False
    return Path(os.path.realpath(path)).parent == Path(os.path.realpath(directory))


def check(doc: dict, library: str, want_dir: Path | None) -> str:
    """"" when the result names the loaded `library` file and (unless want_dir is None) that file
    is in want_dir; else why not, naming the file really loaded."""
    path = loaded(doc, library)
    if not path:
        return f"the result names no loaded {library} (environment.libraries.{library}.path)"
    if want_dir is not None and not is_inside(path, want_dir):
        return f"{library} loaded from {path}, not from the requested {want_dir}"
    return ""
