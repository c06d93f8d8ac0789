from __future__ import annotations

import gzip
import io
import json
import random
import struct
import tracemalloc
import zlib
from typing import Any

import pytest

from collector.body import CHUNK_SIZE, MAX_DEPTH, read_json_body
from collector.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

LIMIT = 64 * 1024
GIB = 1 << 30


def make_environ(
    body: bytes,
    *,
    content_type: str | None = "application/json",
    encoding: str | None = None,
    length: str | None = "auto",
    terminated: bool = False,
) -> dict[str, Any]:
    environ: dict[str, Any] = {"REQUEST_METHOD": "POST", "wsgi.input": io.BytesIO(body)}
    if content_type is not None:
        environ["CONTENT_TYPE"] = content_type
    if encoding is not None:
        environ["HTTP_CONTENT_ENCODING"] = encoding
    if length == "auto":
        environ["CONTENT_LENGTH"] = str(len(body))
    elif length is not None:
        environ["CONTENT_LENGTH"] = length
    if terminated:
        environ["wsgi.input_terminated"] = True
    return environ


def consumed(environ: dict[str, Any]) -> int:
    return environ["wsgi.input"].tell()


def read(environ: dict[str, Any], max_bytes: int = LIMIT) -> Any:
    return read_json_body(environ, max_bytes=max_bytes)


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    """1 GiB of zeros as one valid gzip member of about 1 MiB.

    After a full flush deflate starts afresh, so the compressed form of each
    further MiB of zeros is the same bytes: build it once and repeat it.
    """
    mib = bytes(1 << 20)
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    head = compressor.compress(mib) + compressor.flush(zlib.Z_FULL_FLUSH)
    piece = compressor.compress(mib) + compressor.flush(zlib.Z_FULL_FLUSH)
    final_block = compressor.flush()[:-8]
    crc = 0
    for _ in range(GIB // len(mib)):
        crc = zlib.crc32(mib, crc)
    return head + piece * (GIB // len(mib) - 1) + final_block + struct.pack("<II", crc, GIB & 0xFFFFFFFF)


# --- the happy paths ---------------------------------------------------------


def test_json_body_is_parsed():
    assert read(make_environ(b'{"run_id": "r1", "tests": [1, 2.5, null]}')) == {
        "run_id": "r1",
        "tests": [1, 2.5, None],
    }


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "Application/JSON",
        "application/json; charset=utf-8",
        "application/json;charset=UTF-8",
        'application/json; charset="utf-8"',
        "application/json; foo=bar",
    ],
)
def test_json_media_type_is_accepted_in_any_case_and_with_parameters(content_type):
    assert read(make_environ(b"{}", content_type=content_type)) == {}


@pytest.mark.parametrize("encoding", ["identity", "IDENTITY", ""])
def test_identity_content_encoding_is_read_as_is(encoding):
    assert read(make_environ(b"[true]", encoding=encoding)) == [True]


@pytest.mark.parametrize("encoding", ["gzip", "GZip", "x-gzip"])
def test_gzip_body_is_inflated(encoding):
    payload = {"run_id": "r1", "tests": [{"id": f"t{i}", "status": "passed"} for i in range(200)]}
    compressed = gzip.compress(json.dumps(payload).encode())
    assert read(make_environ(compressed, encoding=encoding)) == payload


def test_gzip_body_larger_than_one_chunk_is_inflated_across_chunks():
    text = json.dumps({"blob": random.Random(7).randbytes(200_000).hex()})
    compressed = gzip.compress(text.encode(), compresslevel=1)
    assert len(compressed) > 2 * CHUNK_SIZE
    assert read(make_environ(compressed, encoding="gzip"), max_bytes=4 << 20) == json.loads(text)


def test_gzip_stream_of_several_members_is_inflated_whole():
    compressed = gzip.compress(b'{"a": ') + gzip.compress(b'"b"}')
    assert read(make_environ(compressed, encoding="gzip")) == {"a": "b"}


def test_body_without_content_length_is_read_to_eof_when_the_server_terminates_input():
    assert read(make_environ(b'{"a": 1}', length=None, terminated=True)) == {"a": 1}


def test_body_of_exactly_the_limit_is_accepted():
    body = b'"' + b"x" * (LIMIT - 2) + b'"'
    assert read(make_environ(body)) == "x" * (LIMIT - 2)
    assert read(make_environ(body, length=None, terminated=True)) == "x" * (LIMIT - 2)
    assert read(make_environ(gzip.compress(body), encoding="gzip")) == "x" * (LIMIT - 2)


def test_utf8_byte_order_mark_is_ignored():
    assert read(make_environ(b'\xef\xbb\xbf{"a": "\xc3\xa9"}')) == {"a": "é"}


def test_brackets_inside_strings_do_not_count_as_nesting():
    deep_looking = "[" * 500 + '\\"' + "{" * 500 + "\\\\"
    body = json.dumps({"id": deep_looking, "other": "]" * 100}).encode()
    assert read(make_environ(body))["id"] == deep_looking


def test_nesting_of_exactly_the_maximum_depth_is_accepted():
    body = ("[" * MAX_DEPTH + "]" * MAX_DEPTH).encode()
    value = read(make_environ(body))
    for _ in range(MAX_DEPTH - 1):
        value = value[0]
    assert value == []


# --- 415 ----------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/jsonx"])
def test_other_media_type_is_refused_naming_it(content_type):
    environ = make_environ(b"{}", content_type=content_type)
    with pytest.raises(UnsupportedMediaType) as raised:
        read(environ)
    assert raised.value.status == 415
    assert raised.value.message == f"Content-Type {content_type!r} is not supported: send application/json"
    assert consumed(environ) == 0


@pytest.mark.parametrize("content_type", [None, "", "  "])
def test_missing_content_type_is_refused(content_type):
    with pytest.raises(UnsupportedMediaType, match="Content-Type is missing: send application/json"):
        read(make_environ(b"{}", content_type=content_type))


@pytest.mark.parametrize("charset", ["latin-1", "utf-16", "ascii"])
def test_charset_other_than_utf8_is_refused_naming_it(charset):
    with pytest.raises(UnsupportedMediaType) as raised:
        read(make_environ(b"{}", content_type=f"application/json; charset={charset}"))
    assert f"charset {charset!r} is not supported" in raised.value.message
    assert "UTF-8" in raised.value.message


@pytest.mark.parametrize("encoding", ["br", "deflate", "gzip, br", "zstd"])
def test_unknown_content_encoding_is_refused_naming_it(encoding):
    environ = make_environ(b"{}", encoding=encoding)
    with pytest.raises(UnsupportedMediaType) as raised:
        read(environ)
    assert raised.value.status == 415
    assert raised.value.message.startswith(f"Content-Encoding {encoding!r} is not supported")
    assert consumed(environ) == 0


# --- 413 ----------------------------------------------------------------------


def test_content_length_over_the_limit_is_refused_before_reading():
    environ = make_environ(b"{}", length=str(LIMIT + 1))
    with pytest.raises(PayloadTooLarge) as raised:
        read(environ)
    assert raised.value.status == 413
    assert raised.value.message == f"request body is {LIMIT + 1} bytes, over the limit of {LIMIT} bytes"
    assert consumed(environ) == 0


def test_absurd_content_length_is_refused_as_too_large():
    environ = make_environ(b"{}", length="9" * 5000)
    with pytest.raises(PayloadTooLarge, match="over the limit"):
        read(environ)
    assert consumed(environ) == 0


def test_body_without_content_length_over_the_limit_is_refused_after_reading_one_byte_more():
    environ = make_environ(b"[" + b"0," * LIMIT + b"0]", length=None, terminated=True)
    with pytest.raises(PayloadTooLarge, match=f"request body exceeds {LIMIT} bytes"):
        read(environ)
    assert consumed(environ) == LIMIT + 1


def test_gzip_body_inflating_to_one_byte_over_the_limit_is_refused():
    body = b'"' + b"x" * (LIMIT - 1) + b'"'
    with pytest.raises(PayloadTooLarge, match=f"^decompressed body exceeds {LIMIT} bytes$"):
        read(make_environ(gzip.compress(body), encoding="gzip"))


def test_gzip_bomb_is_refused_before_inflating_past_the_limit(gzip_bomb):
    max_bytes = 2 << 20
    environ = make_environ(gzip_bomb, encoding="gzip")
    assert int(environ["CONTENT_LENGTH"]) < max_bytes
    tracemalloc.start()
    try:
        with pytest.raises(PayloadTooLarge) as raised:
            read(environ, max_bytes=max_bytes)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert raised.value.status == 413
    assert raised.value.message == f"decompressed body exceeds {max_bytes} bytes"
    assert consumed(environ) <= CHUNK_SIZE
    assert peak < 3 * max_bytes


def test_gzip_bomb_without_content_length_is_refused_after_one_chunk(gzip_bomb):
    environ = make_environ(gzip_bomb, encoding="gzip", length=None, terminated=True)
    with pytest.raises(PayloadTooLarge, match="decompressed body exceeds"):
        read(environ, max_bytes=2 << 20)
    assert consumed(environ) <= CHUNK_SIZE


def test_gzip_body_over_the_limit_while_compressed_is_refused_by_its_content_length(gzip_bomb):
    environ = make_environ(gzip_bomb, encoding="gzip")
    with pytest.raises(PayloadTooLarge, match="over the limit of 65536 bytes"):
        read(environ)
    assert consumed(environ) == 0


# --- 400 ----------------------------------------------------------------------


@pytest.mark.parametrize("length", ["abc", "-1", "1.5", "+2", "0x10", "١٢"])
def test_invalid_content_length_is_a_bad_request(length):
    environ = make_environ(b"{}", length=length)
    with pytest.raises(BadRequest) as raised:
        read(environ)
    assert raised.value.status == 400
    assert raised.value.message == f"Content-Length {length!r} is not a non-negative integer"
    assert consumed(environ) == 0


@pytest.mark.parametrize(
    "environ",
    [
        make_environ(b""),
        make_environ(b"{}", length="0"),
        make_environ(b"", length=None, terminated=True),
        make_environ(gzip.compress(b""), encoding="gzip"),
    ],
    ids=["no-bytes", "content-length-0", "terminated-eof", "gzip-of-nothing"],
)
def test_empty_body_is_a_bad_request(environ):
    with pytest.raises(BadRequest, match=r"^request body is empty"):
        read(environ)


def test_body_without_content_length_is_treated_as_empty_unless_the_server_terminates_input():
    environ = make_environ(b'{"a": 1}', length=None)
    with pytest.raises(BadRequest, match=r"^request body is empty"):
        read(environ)
    assert consumed(environ) == 0


def test_body_shorter_than_its_content_length_is_a_bad_request():
    with pytest.raises(BadRequest) as raised:
        read(make_environ(b'{"a": 1}', length="20"))
    assert raised.value.message.startswith("request body ended after 8 of 20 bytes")
    assert "disconnected" in raised.value.message


def test_corrupt_gzip_is_a_bad_request():
    with pytest.raises(BadRequest, match=r"^gzip body is corrupt"):
        read(make_environ(b"this is not gzip at all", encoding="gzip"))


def test_gzip_with_a_damaged_checksum_is_a_bad_request():
    compressed = bytearray(gzip.compress(b'{"a": 1}'))
    compressed[-8] ^= 0xFF
    with pytest.raises(BadRequest, match=r"^gzip body is corrupt"):
        read(make_environ(bytes(compressed), encoding="gzip"))


def test_truncated_gzip_is_a_bad_request():
    compressed = gzip.compress(json.dumps({"a": "b" * 1000}).encode())
    with pytest.raises(BadRequest, match=r"^gzip body is truncated"):
        read(make_environ(compressed[:-10], encoding="gzip"))


def test_gzip_followed_by_garbage_is_a_bad_request():
    with pytest.raises(BadRequest, match=r"^gzip body is corrupt"):
        read(make_environ(gzip.compress(b"{}") + b"garbage", encoding="gzip"))


def test_invalid_utf8_is_a_bad_request_naming_the_byte_offset():
    with pytest.raises(BadRequest) as raised:
        read(make_environ(b'{"name": "\xff"}'))
    assert raised.value.message.startswith("request body is not valid UTF-8 (at byte offset 10)")


def test_invalid_json_is_a_bad_request_naming_line_and_column():
    with pytest.raises(BadRequest) as raised:
        read(make_environ(b'{\n  "a": 1,\n  "b": }'))
    assert raised.value.message == "request body is not valid JSON: Expecting value (line 3, column 8)"


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_constants_are_a_bad_request(constant):
    with pytest.raises(BadRequest) as raised:
        read(make_environ(f'{{"duration_ms": {constant}}}'.encode()))
    assert raised.value.message.startswith(f"request body contains {constant}, which JSON does not allow")


def test_number_with_too_many_digits_is_a_bad_request_not_a_crash():
    with pytest.raises(BadRequest, match=r"^request body is not valid JSON"):
        read(make_environ(b'{"line": ' + b"9" * 5000 + b"}"))


@pytest.mark.parametrize("opener, closer", [("[", "]"), ('{"a":', "}")])
def test_deep_nesting_is_a_bad_request(opener, closer):
    body = (opener * 100_000 + closer * 100_000).encode()
    with pytest.raises(BadRequest) as raised:
        read(make_environ(body), max_bytes=len(body))
    assert raised.value.message.startswith(f"request body is nested deeper than {MAX_DEPTH} levels")


def test_nesting_one_level_past_the_maximum_is_a_bad_request():
    body = ("[{" * 32 + '"a":[' + "]}" * 32 + "]").encode()
    with pytest.raises(BadRequest, match="nested deeper than 64 levels"):
        read(make_environ(body))


def test_unclosed_deep_nesting_is_a_bad_request():
    with pytest.raises(BadRequest):
        read(make_environ(b"[" * 100_000), max_bytes=100_000)


def test_every_bad_request_message_is_one_sentence():
    bodies = [b"", b"\xff", b"{", b"NaN", b"[" * 100]
    for body in bodies:
        with pytest.raises(BadRequest) as raised:
            read(make_environ(body))
        message = raised.value.message
        assert "\n" not in message and message.count(". ") == 0
