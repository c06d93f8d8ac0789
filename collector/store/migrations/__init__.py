"""Numbered schema migrations, one folder of ``NNNN_name.sql`` files per backend.

Every backend has the same numbers, so a version means the same schema
whichever database holds it. The files are package data, read through
importlib.resources so they are found in an installed wheel as well as in a
checkout.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

_FILE_NAME = re.compile(r"^(\d{4})_\w+\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations(backend: str) -> list[Migration]:
    """The migrations in ``migrations/<backend>/``, oldest first.

    Raise LookupError when the folder is missing and ValueError unless the
    numbers run 1, 2, 3... without a gap or a repeat: either means a broken
    install or checkout, which must not half-migrate a database.
    """
    folder = resources.files(__name__).joinpath(backend)
    if not folder.is_dir():
        raise LookupError(f"no migrations folder for the {backend!r} backend in {__name__}")
    found: dict[int, Migration] = {}
    for entry in folder.iterdir():
        match = _FILE_NAME.match(entry.name)
        if not match:
            continue
        version = int(match.group(1))
        if version in found:
            raise ValueError(f"{backend} migrations {found[version].name} and {entry.name} share version {version}")
        found[version] = Migration(version, entry.name, entry.read_text(encoding="utf-8"))
    versions = sorted(found)
    if versions != list(range(1, len(versions) + 1)):
        raise ValueError(f"{backend} migrations must be numbered from 0001 without gaps, found {versions}")
    return [found[version] for version in versions]
