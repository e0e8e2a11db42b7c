"""The published contract as files: JSON Schemas and the AsyncAPI document, generated from the models.

`crisis schemas` writes them under schemas/generated/ (committed); `crisis schemas --check` and a test compare
the committed files with what the models generate. Schemas of older versions of a type stay published (events of
those versions remain in the stream), so they are kept, never reported as stale.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from schemas.asyncapi import asyncapi_document
from schemas.catalogue import EVENT_TYPES
from schemas.jsonschemas import envelope_schema, event_schema, schema_file, submission_file, submission_schema

GENERATED_DIR = Path(__file__).parent / "generated"
_VERSIONED_FILE = re.compile(r"^events/(?P<type>\w+)\.v(?P<version>\d+)\.json$")


def _text(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def generate() -> dict[str, str]:
    """Every generated file's text, by its path relative to the generated folder."""
    files = {"asyncapi.json": _text(asyncapi_document()), "envelope.json": _text(envelope_schema())}
    for event_type, cls in EVENT_TYPES.items():
        files[schema_file(event_type, cls.schema_version)] = _text(event_schema(cls))
        files[submission_file(event_type, cls.schema_version)] = _text(submission_schema(cls))
    return files


def _older_version(path: str) -> bool:
    """A published schema of an earlier version of a known type: still describes events in the stream."""
    match = _VERSIONED_FILE.match(path)
    cls = EVENT_TYPES.get(match["type"]) if match else None
    return match is not None and cls is not None and int(match["version"]) < cls.schema_version


def committed(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): p.read_text() for p in folder.rglob("*.json")}


def drift(folder: Path = GENERATED_DIR) -> list[str]:
    """How the files in `folder` differ from what the models generate; empty when they agree."""
    expected, found = generate(), committed(folder)
    problems = [f"{path}: missing" for path in sorted(expected.keys() - found.keys())]
    problems += [
        f"{path}: differs from the models"
        for path in sorted(expected)
        if found.get(path, expected[path]) != expected[path]
    ]
    problems += [
        f"{path}: stale (no such type or version)"
        for path in sorted(found.keys() - expected.keys())
        if not _older_version(path)
    ]
    return problems


def write(folder: Path = GENERATED_DIR) -> list[str]:
    """Bring `folder` in line with the models; returns the paths written or removed."""
    expected, found = generate(), committed(folder)
    changed = []
    for path, text in expected.items():
        if found.get(path) != text:
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            (folder / path).write_text(text)
            changed.append(path)
    for path in sorted(found.keys() - expected.keys()):
        if not _older_version(path):
            (folder / path).unlink()
            changed.append(f"{path} (removed)")
    return changed
