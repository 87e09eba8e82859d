"""The shipped JSON Schemas (reports/schema/*.schema.json) as python3-jsonschema validators,
with the schemas' cross references ("result.schema.json#/$defs/...") resolved from the
directory, never from the network."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

DIR = Path(__file__).resolve().parents[1] / "schema"

jsonschema = pytest.importorskip("jsonschema", reason="python3-jsonschema is not installed "
                                 "(scripts/lib.sh installs it: apt-get install python3-jsonschema)")


def _store() -> dict:
    return {s["$id"]: s for s in (json.loads(p.read_text()) for p in sorted(DIR.glob("*.schema.json")))}


def validator(name: str):
    """A Draft 2020-12 validator for reports/schema/<name>.schema.json."""
    store = _store()
    schema = json.loads((DIR / f"{name}.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    resolver = jsonschema.RefResolver.from_schema(schema, store=store)
    return jsonschema.Draft202012Validator(schema, resolver=resolver)


def errors(name: str, instance) -> list[str]:
    """Every way `instance` breaks the schema, as "path: message" lines (at most 20)."""
    out = []
    for e in validator(name).iter_errors(instance):
        out.append(f"{'/'.join(str(p) for p in e.absolute_path) or '(top)'}: {e.message[:300]}")
        if len(out) == 20:
            break
    return out
