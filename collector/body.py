"""Reading a request body: media type, encoding and size are checked while reading, then JSON.

Bottle is not used here on purpose (see "Known traps" in DESIGN.md): it never
inflates gzip, reads a body of any size in full before its own limit applies,
and lets deeply nested JSON raise RecursionError.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Iterator, Mapping
from itertools import accumulate
from typing import Any

from .errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

CHUNK_SIZE = 64 * 1024
MAX_DEPTH = 64

_UTF8_CHARSETS = ("utf-8", "utf8")
_IDENTITY_ENCODINGS = ("", "identity")
_GZIP_ENCODINGS = ("gzip", "x-gzip")
_NOT_STRUCTURAL = bytes(c for c in range(256) if c not in b'[]{}",')
_DEPTH_STEPS = bytes.maketrans(b"[]{}", b"\x01\xff\x01\xff")
_DEPTH_BLOCK = 64 * 1024
_UTF8_BOM = "\ufeff"


class _NonFiniteConstant(Exception):
    pass


def read_json_body(environ: Mapping[str, Any], *, max_bytes: int, max_values: int | None = None) -> Any:
    """Return the request's JSON value; raise a CollectorError (400, 413, 415) naming the problem.

    ``max_values`` caps the arrays, objects and items the body may hold (413
    beyond it), counted on the bytes before anything is parsed: json.loads
    spends 20 to 70 bytes of memory per item, so a body of small items within
    the byte limit (``[{},{},...]``) would cost 20 times its size or more.
    """
    _check_content_type(environ.get("CONTENT_TYPE"))
    gzipped = _is_gzipped(environ.get("HTTP_CONTENT_ENCODING"))
    chunks = _read_chunks(environ, max_bytes)
    body = _inflate(chunks, max_bytes) if gzipped else b"".join(chunks)
    if not body:
        raise BadRequest("request body is empty: send a JSON object")
    return _parse_json(body, max_values)


def _check_content_type(value: str | None) -> None:
    if not value or not value.strip():
        raise UnsupportedMediaType("Content-Type is missing: send application/json")
    media_type, *params = value.split(";")
    if media_type.strip().lower() != "application/json":
        raise UnsupportedMediaType(f"Content-Type {value!r} is not supported: send application/json")
    for param in params:
        name, _, raw = param.partition("=")
        if name.strip().lower() != "charset":
            continue
        charset = raw.strip().strip('"').lower()
        if charset not in _UTF8_CHARSETS:
            raise UnsupportedMediaType(
                f"charset {raw.strip()!r} is not supported: send application/json encoded as UTF-8"
            )


def _is_gzipped(value: str | None) -> bool:
    coding = (value or "").strip().lower()
    if coding in _IDENTITY_ENCODINGS:
        return False
    if coding in _GZIP_ENCODINGS:
        return True
    raise UnsupportedMediaType(f"Content-Encoding {value!r} is not supported: send the body uncompressed or with gzip")


def _declared_length(environ: Mapping[str, Any], max_bytes: int) -> int | None:
    raw = environ.get("CONTENT_LENGTH")
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    text = str(raw).strip()
    if not (text.isascii() and text.isdigit()):
        raise BadRequest(f"Content-Length {raw!r} is not a non-negative integer")
    if len(text) > 18 or int(text) > max_bytes:
        raise PayloadTooLarge(f"request body is {text} bytes, over the limit of {max_bytes} bytes")
    return int(text)


def _read_chunks(environ: Mapping[str, Any], max_bytes: int) -> Iterator[bytes]:
    """Yield the raw body in chunks, never reading more than ``max_bytes + 1`` bytes.

    Checks run when this is called, not when the first chunk is asked for, so
    a declared length over the limit is refused before anything is read.
    """
    length = _declared_length(environ, max_bytes)
    stream = environ.get("wsgi.input")
    if stream is None or length == 0:
        return iter(())
    if length is not None:
        return _read_exactly(stream, length)
    if environ.get("wsgi.input_terminated"):
        return _read_to_eof(stream, max_bytes)
    return iter(())


def _read_exactly(stream: Any, length: int) -> Iterator[bytes]:
    remaining = length
    while remaining > 0:
        chunk = stream.read(min(CHUNK_SIZE, remaining))
        if not chunk:
            raise BadRequest(
                f"request body ended after {length - remaining} of {length} bytes: "
                "the client disconnected or sent a wrong Content-Length"
            )
        remaining -= len(chunk)
        yield chunk


def _read_to_eof(stream: Any, max_bytes: int) -> Iterator[bytes]:
    allowed = max_bytes + 1
    while allowed > 0:
        chunk = stream.read(min(CHUNK_SIZE, allowed))
        if not chunk:
            return
        allowed -= len(chunk)
        if allowed <= 0:
            raise PayloadTooLarge(f"request body exceeds {max_bytes} bytes")
        yield chunk


def _inflate(chunks: Iterable[bytes], max_bytes: int) -> bytes:
    """Gunzip as the chunks arrive, never holding more than ``max_bytes + 1`` inflated bytes."""
    limit = max_bytes + 1
    inflater = _gunzipper()
    parts: list[bytes] = []
    produced = 0
    received = False
    for chunk in chunks:
        received = True
        data = chunk
        while data:
            if inflater.eof:
                inflater = _gunzipper()
            try:
                out = inflater.decompress(data, limit - produced)
            except zlib.error as exc:
                raise BadRequest(f"gzip body is corrupt ({exc}): send a valid gzip stream") from None
            produced += len(out)
            if produced > max_bytes:
                raise PayloadTooLarge(f"decompressed body exceeds {max_bytes} bytes")
            parts.append(out)
            data = inflater.unused_data if inflater.eof else inflater.unconsumed_tail
    if received and not inflater.eof:
        raise BadRequest("gzip body is truncated: send the complete gzip stream")
    return b"".join(parts)


def _gunzipper() -> Any:
    """A fresh inflater per gzip member: a stream may hold several back to back (RFC 1952, 2.2)."""
    return zlib.decompressobj(16 + zlib.MAX_WBITS)


def _parse_json(body: bytes, max_values: int | None = None) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"request body is not valid UTF-8 (at byte offset {exc.start}): send UTF-8 JSON") from None
    skeleton = _skeleton(body)
    if max_values is not None and _value_count(skeleton) > max_values:
        raise PayloadTooLarge(
            f"request body holds more than {max_values} JSON values (arrays, objects and their items): "
            "send fewer tests or fewer fields per test"
        )
    if _nesting_exceeds(skeleton, MAX_DEPTH):
        raise BadRequest(f"request body is nested deeper than {MAX_DEPTH} levels: send a flatter JSON document")
    if text.startswith(_UTF8_BOM):
        text = text[1:]
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except _NonFiniteConstant as exc:
        raise BadRequest(
            f"request body contains {exc}, which JSON does not allow: send a finite number or null"
        ) from None
    except json.JSONDecodeError as exc:
        raise BadRequest(f"request body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise BadRequest(
            f"request body is nested deeper than {MAX_DEPTH} levels: send a flatter JSON document"
        ) from None
    except ValueError as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from None


def _refuse_constant(name: str) -> Any:
    raise _NonFiniteConstant(name)


def _skeleton(body: bytes) -> bytes:
    """The brackets, braces and commas of the body that lie outside strings, in order.

    Runs on bytes with C-speed operations only (about a third of what
    json.loads then takes on a typical body). Escaped backslashes and quotes
    are dropped first, then everything but brackets, commas and quotes;
    adjacent quote pairs can go (they enclose nothing, or nothing lies between
    two strings), and what lies between the remaining quote pairs is string
    content. For invalid JSON the result is exact up to the point where
    json.loads stops.
    """
    if b"\\" in body:
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    skeleton = body.translate(None, _NOT_STRUCTURAL)
    if b'"' in skeleton:
        skeleton = skeleton.replace(b'""', b"")
        if b'"' in skeleton:
            skeleton = b"".join(skeleton.split(b'"')[::2])
    return skeleton


def _value_count(skeleton: bytes) -> int:
    """The values json.loads would build, counting an empty array or object twice.

    Every value but the root follows a comma or opens its container; strings
    and numbers are not in the skeleton, so ``[]`` and ``[1]`` look alike.
    """
    return 1 + skeleton.count(b",") + skeleton.count(b"[") + skeleton.count(b"{")


def _nesting_exceeds(skeleton: bytes, limit: int) -> bool:
    """Whether arrays and objects nest deeper than ``limit`` in a ``_skeleton``.

    So json.loads never recurses past ``limit`` and never raises
    RecursionError on a deep body.
    """
    steps = skeleton.translate(_DEPTH_STEPS, b",")
    if len(steps) - steps.count(b"\xff") <= limit:
        return False
    if b"\x01" * (limit + 1) in steps:
        return True
    view = memoryview(steps).cast("b")
    depth = 0
    for start in range(0, len(view), _DEPTH_BLOCK):
        block = view[start : start + _DEPTH_BLOCK]
        if max(accumulate(block, initial=depth)) > limit:
            return True
        depth += sum(block)
    return False
