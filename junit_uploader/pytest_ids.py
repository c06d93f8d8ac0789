"""pytest's node ids for the testcases of pytest's own JUnit XML.

pytest writes a testcase's ``classname`` as its node id's file path with
``/`` turned into ``.`` and ``.py`` dropped, then its classes, all joined by
dots: ``tests/test_demo.py::TestA::TestB::test_x[1]`` becomes classname
``tests.test_demo.TestA.TestB`` and name ``test_x[1]`` (the name keeps its
parameters verbatim, dots and ``::`` included). The dots alone cannot say
where the directories end, the module ends and the classes begin, so the
working tree decides: the node id is rebuilt from the longest dotted prefix
of the classname that names a file under the base directory (the module
``tests/test_demo.py``; a non-Python file such as ``docs/index.txt`` for a
doctest item, whose classname pytest writes with its extension), the rest
of the classname becoming the classes.

Each directory on the way is listed once (``os.scandir``) and each
classname resolved once, so 100,000 testcases cost one lookup in a dict each
plus a listing of the few directories that hold the tests. A directory
whose name holds a dot (``tests/v1.2``) is found like any other: every way
of reading the dots that the listings allow is tried, longest names first.
Lookups only ever go to names a listing returned, never to a path built
from the report, so a hostile classname cannot reach outside the base.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["PytestPaths"]

#: the longest file name most filesystems allow; a longer dotted run cannot be one name
NAME_MAX = 255


class PytestPaths:
    """Resolves pytest's dotted classnames to node id prefixes against one base directory."""

    __slots__ = ("_listings", "_prefixes", "base")

    def __init__(self, base: Path) -> None:
        self.base = base
        self._prefixes: dict[str, tuple[str, str] | None] = {}
        self._listings: dict[str, dict[str, bool]] = {}

    def node_prefix(self, classname: str) -> tuple[str, str] | None:
        """``("tests/test_demo.py::TestA::TestB", "tests/test_demo.py")`` for ``tests.test_demo.TestA.TestB``.

        The node id's prefix and the module's path; None when no dotted prefix
        of the classname names a file under the base (a ``junit_prefix``, a
        rootdir elsewhere, a module since deleted).
        """
        try:
            return self._prefixes[classname]
        except KeyError:
            pass
        segments = classname.split(".")
        found = self._module(segments, 0, "")
        resolved = None if found is None else ("::".join([found[0], *segments[found[1] :]]), found[0])
        self._prefixes[classname] = resolved
        return resolved

    def module_path(self, dotted: str) -> str | None:
        """``tests/test_broken.py`` for ``tests.test_broken``, when the whole of it names a file.

        pytest writes a collection error or a module-level skip with an empty
        classname and the module's dotted path as the name.
        """
        resolved = self.node_prefix(dotted)
        return resolved[1] if resolved is not None and resolved[0] == resolved[1] else None

    def _module(self, segments: list[str], start: int, directory: str) -> tuple[str, int] | None:
        """The file under ``directory`` named by the most segments from ``start``, with that count.

        Longer names are tried first and the first of equals is kept, so the
        answer depends only on the classname and the tree.
        """
        entries = self._listing(directory)
        best: tuple[str, int] | None = None
        for end, name in reversed(_names(segments, start)):
            if end > (best[1] if best else 0):
                if entries.get(name + ".py") is False:
                    best = (f"{directory}{name}.py", end)
                elif entries.get(name) is False:
                    best = (f"{directory}{name}", end)
            if end < len(segments) and entries.get(name) is True:
                deeper = self._module(segments, end, f"{directory}{name}/")
                if deeper is not None and deeper[1] > (best[1] if best else 0):
                    best = deeper
            if best is not None and best[1] == len(segments):
                break
        return best

    def _listing(self, directory: str) -> dict[str, bool]:
        """Entry name → is a directory, for a ``/``-joined path under the base; empty when unreadable."""
        try:
            return self._listings[directory]
        except KeyError:
            pass
        entries: dict[str, bool] = {}
        try:
            with os.scandir(self.base.joinpath(*directory.split("/")) if directory else self.base) as scan:
                for entry in scan:
                    try:
                        entries[entry.name] = entry.is_dir()
                    except OSError:
                        continue
        except OSError:
            pass
        self._listings[directory] = entries
        return entries


def _names(segments: list[str], start: int) -> list[tuple[int, str]]:
    """(end, ``".".join(segments[start:end])``) for every end whose name could be one file name."""
    names: list[tuple[int, str]] = []
    name = ""
    for end in range(start + 1, len(segments) + 1):
        name = segments[start] if end == start + 1 else f"{name}.{segments[end - 1]}"
        if len(name) > NAME_MAX:
            break
        if name:
            names.append((end, name))
    return names
