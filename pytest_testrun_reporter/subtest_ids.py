"""Subtest descriptions that stay the same from run to run, process to process and xdist worker to worker.

pytest hands a subtest's parameters over as ``saferepr`` text (its own
``subtests`` fixture and unittest's ``self.subTest(...)`` alike, and through
xdist as the same text), and unittest turns ``subTest(msg=obj)`` into
``str(obj)``. For most objects that text holds a memory address
(``<range_iterator object at 0x7f...>``), so an id built from it would be a
new test on every run.

So a parameter is described by its value when its text is a plain literal
whose repr does not change between processes: numbers (floats too: their
repr is exact), strings, bytes, ``None``, booleans, and tuples, lists, sets,
frozensets and dicts of those, nested; set elements are put in a fixed order,
since a set of strings prints in an order that changes with every process.
Anything else is described by its type, as its text names it:
``<range_iterator>``, ``<function>``, ``<mymodule.Account>``, ``<Point>``.

A message is kept as written, except that an address in it is dropped and a
message that is only an object's default text (what unittest makes of
``subTest(msg=obj)``) becomes that object's type; a message that is not a
string is described like a parameter. Control characters are escaped
(the collector refuses them in an id) and long values are cut, keeping a
hash of their start and end so that values that differ there stay apart.

Under xdist the controller sees each parameter's text made twice over:
loading a worker's report makes its context anew, and pytest 9 repr's every
value again then (``"'a b'"`` for ``'a b'``). :func:`worker_params` undoes
that, when pytest is seen to do it, so that ids do not depend on ``-n``.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import re
import warnings
from collections.abc import Mapping
from typing import Any

#: Characters of one described value, and of the whole description, before they are cut.
VALUE_MAX = 100
DESCRIPTION_MAX = 480
#: The cut keeps a value's start; its hash covers the start and this many last characters. pytest's own
#: cut (240 characters, in the middle) keeps both, also of the text made twice over under xdist.
_TAIL_HASHED = 20
#: Longer texts are not parsed as literals (pytest's own text is at most 240 characters).
_PARSE_MAX = 4096
_HASH_CHARS = 8

_ADDRESS = re.compile(r"(?: object)? at 0x[0-9a-fA-F]+(?=>)")
_ONLY_AN_OBJECT = re.compile(r"<(?:[^<>]|<\w+>)* at 0x[0-9a-fA-F]+>")
#: The first word of ``<range_iterator object at ...>``, ``<function f at ...>``, ``<Color.RED: 1>``, and of
#: pytest's ``<[ValueError() raised in repr()] Account object at ...>``; qualified names may hold ``<locals>``.
_ANGLE_WORD = re.compile(r"<(?:\[.*\] )?((?:[\w.\-]|<\w+>)+)")
#: The name in ``Point(x=1)``, ``datetime.date(2026, 1, 12)``.
_CALLED = re.compile(r"([^\W\d][\w.]*)\(")
_WORD_TYPES = {"bound": "method", "built-in": "builtin_function_or_method", "class": "type"}
_OPENER_TYPES = {"[": "list", "(": "tuple", "'": "str", '"': "str"}
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")
_FLOAT_NAMES = frozenset({"inf", "nan"})
#: A number as repr writes it, a string without escapes or control characters, True, False, None; and a flat
#: tuple or list of those: literals without a set in them, which ast would only confirm (most values are these).
_ATOM = r"""-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:e[-+]?[0-9]+)?|'[^'\\\x00-\x1f\ud800-\udfff]*'|"[^"\\\x00-\x1f\ud800-\udfff]*"|True|False|None"""
_PLAIN_LITERAL = re.compile(
    rf"(?:{_ATOM})|\((?:(?:{_ATOM}), )*(?:{_ATOM}),?\)|\[(?:(?:(?:{_ATOM}), )*(?:{_ATOM}))?\]|\(\)", re.ASCII
)
_SET_CALLS = frozenset({"set", "frozenset"})


def describe_subtest(msg: object, kwargs: Mapping[str, object]) -> str:
    """``[msg] (k=v, ...)``, or ``(<subtest>)`` when the subtest has neither."""
    parts = []
    if msg is not None:
        parts.append(f"[{_fit(describe_message(msg), VALUE_MAX)}]")
    if kwargs:
        described = (f"{key}={_fit(describe_value(value), VALUE_MAX)}" for key, value in kwargs.items())
        parts.append("(" + ", ".join(described) + ")")
    return _fit(_printable(" ".join(parts)), DESCRIPTION_MAX) or "(<subtest>)"


def worker_params(context: Any) -> Mapping[str, object]:
    """The parameters of a subtest report loaded from an xdist worker, as the worker had them."""
    kwargs: Mapping[str, object] = context.kwargs
    context_type: type = type(context)
    if not _loading_reprs_again(context_type):
        return kwargs
    return {key: _unrepr(value) for key, value in kwargs.items()}


@functools.cache
def _loading_reprs_again(context_type: type) -> bool:
    """Whether loading a serialized context repr's its (already text) parameters again; pytest is asked."""
    try:
        loaded = context_type._from_json({"msg": None, "kwargs": {"k": "v"}})  # type: ignore[attr-defined]
        return bool(loaded.kwargs["k"] == repr("v"))
    except Exception:  # noqa: BLE001 - another pytest: take the parameters as they come
        return False


def _unrepr(value: object) -> object:
    if not isinstance(value, str):
        return value
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            text = ast.literal_eval(value)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return value
    return text if isinstance(text, str) else value


def describe_message(msg: object) -> str:
    if not isinstance(msg, str):
        return describe_value(_repr(msg))
    if msg.startswith("<") and _ONLY_AN_OBJECT.fullmatch(msg):
        return f"<{_type_named_in(msg)}>"
    return _ADDRESS.sub("", msg)


def describe_value(value: object) -> str:
    """A parameter's text (pytest gives its ``saferepr``; anything else is repr'd here) by value or by type."""
    text = value if isinstance(value, str) else _repr(value)
    return _stable_literal(text) or f"<{_type_named_in(text)}>"


def _stable_literal(text: str) -> str | None:
    """``text`` when it is a literal of the kinds above (sets in a fixed order), else None."""
    if len(text) > _PARSE_MAX:
        return None
    if _PLAIN_LITERAL.fullmatch(text):
        return text
    return _parsed_literal(text)


def _parsed_literal(text: str) -> str | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a custom repr's invalid escape ("\\d") is not the tests' warning
            tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    if not _is_literal(tree.body):
        return None
    if not any(isinstance(node, ast.Set) for node in ast.walk(tree)):
        return text
    for node in ast.walk(tree):
        if isinstance(node, ast.Set):
            node.elts.sort(key=ast.unparse)
    return ast.unparse(tree)


def _is_literal(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, (ast.Name, ast.UnaryOp, ast.BinOp)):
        return _is_number(node)
    if isinstance(node, (ast.Tuple, ast.List)):
        return all(_is_literal(item) for item in node.elts)
    if isinstance(node, ast.Set):
        # a set that reprlib cut short (``...``) shows some of its elements, which ones depending on the process
        return all(_is_literal(item) and not _is_ellipsis(item) for item in node.elts)
    if isinstance(node, ast.Dict):
        return all(key is not None and _is_literal(key) and _is_literal(value) for key, value in zip(node.keys, node.values))
    if isinstance(node, ast.Call):
        args = node.args
        return (
            isinstance(node.func, ast.Name)
            and node.func.id in _SET_CALLS
            and not node.keywords
            and (not args or (len(args) == 1 and isinstance(args[0], ast.Set) and _is_literal(args[0])))
        )
    return False


def _is_number(node: ast.expr) -> bool:
    """``1``, ``-1.5``, ``inf``, ``-nan``, ``(1+2j)``."""
    if isinstance(node, ast.Constant):
        return type(node.value) in (int, float, complex)
    if isinstance(node, ast.Name):
        return node.id in _FLOAT_NAMES
    if isinstance(node, ast.UnaryOp):
        return isinstance(node.op, (ast.USub, ast.UAdd)) and _is_number(node.operand)
    if isinstance(node, ast.BinOp):
        return isinstance(node.op, (ast.Add, ast.Sub)) and _is_number(node.left) and _is_number(node.right)
    return False


def _is_ellipsis(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is Ellipsis


def _type_named_in(text: str) -> str:
    """The type an object's text names; ``object`` when it names none."""
    found = _ANGLE_WORD.match(text) or _CALLED.match(text)
    if found:
        return _WORD_TYPES.get(found.group(1), found.group(1))
    if text.startswith("{"):
        return "dict" if ":" in text else "set"
    return _OPENER_TYPES.get(text[:1], "object")


def _repr(value: object) -> str:
    try:
        return repr(value)
    except Exception:  # noqa: BLE001 - a broken __repr__ still leaves the type to describe it by
        return f"<{type(value).__qualname__}>"


def _printable(text: str) -> str:
    """Control characters and lone surrogates as their escapes (``\\n``, ``\\udcff``)."""
    return _UNPRINTABLE.sub(lambda found: repr(found.group())[1:-1], text)


def _fit(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    kept = f"{text[: limit - _HASH_CHARS - 1]}…"
    digest = hashlib.sha256((kept + text[-_TAIL_HASHED:]).encode("utf-8", "surrogatepass")).hexdigest()
    return kept + digest[:_HASH_CHARS]
