"""Which files ``junit-upload PATH_OR_GLOB...`` reads: paths, directories and globs, expanded.

A pattern that names an existing path is taken literally (so ``results[1].xml``
is a file, not a character class); otherwise it is a glob, with ``**``
crossing directories. A file is taken whatever its name, because the user
named it; a directory stands for every ``*.xml`` file under it (any case,
any depth). The result is sorted and de-duplicated on the normalised absolute
path (``..`` and ``.`` folded, symlinks kept), so the same command finds the
same files in the same order on every CI attempt.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from .errors import NoReportFound

REPORT_SUFFIX = ".xml"


def find_reports(patterns: Sequence[str], *, cwd: Path) -> list[Path]:
    """The report files the patterns name, as absolute paths, sorted and de-duplicated.

    Raise NoReportFound for the first pattern that matches nothing, or that
    names a directory without any XML file in it.
    """
    if not patterns:
        raise NoReportFound("no report path or glob given")
    found: set[Path] = set()
    for pattern in patterns:
        found.update(_reports_for_pattern(pattern, cwd))
    return sorted(found)


def display_path(path: Path) -> str:
    """The path as the user would type it: relative to the current directory when under it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _reports_for_pattern(pattern: str, cwd: Path) -> list[Path]:
    literal = _absolute(cwd, Path(pattern))
    if literal.is_file():
        return [literal]
    if literal.is_dir():
        return _reports_in_directory(literal, shown=pattern)
    if not glob.has_magic(pattern):
        raise NoReportFound(f"{pattern}: no such file or directory")
    matches = [_absolute(cwd, Path(match)) for match in glob.glob(pattern, root_dir=cwd, recursive=True)]
    if not matches:
        raise NoReportFound(f"{pattern}: matched no file")
    files = [path for path in matches if path.is_file()]
    directories = [path for path in matches if path.is_dir()]
    files.extend(path for directory in directories for path in _xml_files_under(directory))
    if not files:
        raise NoReportFound(f"{pattern}: matched only directories without {REPORT_SUFFIX} files")
    return files


def _reports_in_directory(directory: Path, *, shown: str) -> list[Path]:
    files = list(_xml_files_under(directory))
    if not files:
        raise NoReportFound(f"{shown}: directory has no {REPORT_SUFFIX} files")
    return files


def _xml_files_under(directory: Path) -> Iterable[Path]:
    return (
        path
        for path in directory.rglob("*")
        if path.suffix.lower() == REPORT_SUFFIX and path.is_file()
    )


def _absolute(cwd: Path, path: Path) -> Path:
    return Path(os.path.normpath(cwd / path))
