"""The environment as a provider reader sees it, and the value helpers the readers share."""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

#: Longer values are treated as absent: the collector refuses metadata values over 2,048 characters.
_VALUE_MAX = 2048
#: ``ci.attempt`` is a 32-bit column on the collector.
_COUNT_MAX = 2**31 - 1
_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no", "off"})
_SURROGATE = re.compile("[\ud800-\udfff]")
_DIGITS = re.compile(r"[0-9]+")
_PULL_REF = re.compile(r"^refs/pull/([0-9]+)/(?:merge|head)$")
_PULL_URL = re.compile(r"/pull(?:-requests)?/([0-9]+)/?$")


class _Env:
    """The environment as a provider reader sees it: blank, oversized or non-numeric counts are absent."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def text(self, *names: str) -> str | None:
        """The first of ``names`` that has a usable value."""
        for name in names:
            value = self._env.get(name)
            if isinstance(value, str):
                value = _SURROGATE.sub("\ufffd", value.strip())
                if value and len(value) <= _VALUE_MAX:
                    return value
        return None

    def count(self, name: str) -> int | None:
        value = self.text(name)
        if value is None or not _DIGITS.fullmatch(value) or int(value) > _COUNT_MAX:
            return None
        return int(value)

    def index(self, name: str) -> str | None:
        number = self.count(name)
        return None if number is None else str(number)

    def has(self, *names: str) -> bool:
        return self.text(*names) is not None

    def flag(self, name: str) -> bool:
        value = self.text(name)
        return value is not None and value.lower() in _TRUE


def _number(value: str | None) -> str | None:
    """A PR number, or ``None`` for the ``false`` / empty some providers use for 'not a PR'."""
    return value if value is not None and _DIGITS.fullmatch(value) else None


def _after(value: str | None, prefix: str) -> str | None:
    if value is None or not value.startswith(prefix):
        return None
    return value[len(prefix) :] or None


def _branch_of_ref(ref: str | None) -> str | None:
    """``refs/heads/main`` -> ``main``; tags and PR refs are not branches."""
    return _after(ref, "refs/heads/")


def _plain_branch(name: str | None) -> str | None:
    return _branch_of_ref(name) or name


def _match(pattern: re.Pattern[str], value: str | None) -> str | None:
    found = pattern.search(value) if value else None
    return found.group(1) if found else None


def _repo_path(url: str | None) -> str | None:
    """``git@github.com:acme/api.git`` or ``https://github.com/acme/api.git`` -> ``acme/api``."""
    if not url:
        return None
    if "://" in url:
        path = urlsplit(url).path
    elif ":" in url:
        path = url.split(":", 1)[1]
    else:
        return None
    return path.strip("/").removesuffix(".git") or None


def _url(base: str | None, *parts: str | None) -> str | None:
    if base is None or any(part is None for part in parts):
        return None
    return "/".join([base.rstrip("/"), *(str(part) for part in parts)])


def _joined(*names: str | None, separator: str = "/") -> str | None:
    return separator.join(name for name in names if name) or None


# --- one reader per provider, each from the provider's own documentation ------


def _ci_is_set(env: _Env) -> bool:
    """``CI`` is on: ``true``/``1``/``yes`` in any case, or a provider's own marker such as ``woodpecker``."""
    value = env.text("CI")
    return value is not None and value.lower() not in _FALSE
