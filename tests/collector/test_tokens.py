from __future__ import annotations

import re
import zlib

import bcrypt
import pytest

from collector.errors import BadRequest, Unauthorized
from collector.model import Project, TokenRecord
from collector.tokens import (
    BASE62,
    MintedToken,
    create_token,
    hash_secret,
    mint_token,
    parse_token,
    secret_matches,
)

ROUNDS = 4
PROJECT = Project(id=1, org="octo", name="app", created_at="2026-01-01T00:00:00.000000Z")
NOW = "2026-01-12T10:00:00.000000Z"


class RecordingStore:
    """Only what create_token needs: the store is someone else's module."""

    def __init__(self) -> None:
        self.inserted: list[TokenRecord] = []

    def insert_token(self, token: TokenRecord) -> None:
        self.inserted.append(token)


def swap_one_character(token: str, index: int) -> str:
    replacement = "a" if token[index] != "a" else "b"
    return token[:index] + replacement + token[index + 1 :]


# --- format ------------------------------------------------------------------


def test_a_minted_token_is_prefix_id_underscore_secret_and_checksum() -> None:
    minted = mint_token()

    assert re.fullmatch(r"testrun_[0-9A-Za-z]{12}_[0-9A-Za-z]{49}", minted.token)
    assert len(minted.token_id) == 12
    assert len(minted.secret) == 43
    assert minted.token.startswith(f"testrun_{minted.token_id}_{minted.secret}")


def test_the_checksum_is_the_crc32_of_the_rest_in_six_base62_digits() -> None:
    minted = mint_token()
    body, checksum = minted.token[:-6], minted.token[-6:]

    value = 0
    for char in checksum:
        value = value * 62 + BASE62.index(char)
    assert value == zlib.crc32(body.encode())


def test_secrets_draw_on_the_whole_base62_alphabet() -> None:
    """43 characters carry 256 bits only if each of the 62 is equally possible."""
    seen = set("".join(mint_token().secret for _ in range(200)))

    assert seen == set(BASE62)


def test_a_thousand_minted_tokens_are_all_distinct() -> None:
    minted = [mint_token() for _ in range(1000)]

    assert len({m.token for m in minted}) == 1000
    assert len({m.token_id for m in minted}) == 1000
    assert len({m.secret for m in minted}) == 1000


def test_parse_returns_the_id_and_secret_of_a_minted_token() -> None:
    minted = mint_token()

    assert parse_token(minted.token) == (minted.token_id, minted.secret)


@pytest.mark.parametrize("index", [8, 15, 25, 50, 63, 69])
def test_a_one_character_typo_anywhere_fails_the_checksum(index: int) -> None:
    token = mint_token().token

    with pytest.raises(Unauthorized):
        parse_token(swap_one_character(token, index))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "testrun_",
        "Bearer",
        "x" * 70,
        "ghp_" + "a" * 66,
        "testrun_" + "a" * 62,
        "testrun_" + "a" * 12 + "-" + "a" * 49,
        "testrun_" + "a" * 12 + "_" + "a" * 48 + "é",
        "testrun_" + "a" * 10000,
    ],
)
def test_parse_refuses_garbage(text: str) -> None:
    with pytest.raises(Unauthorized):
        parse_token(text)


def test_parse_refuses_a_valid_token_with_surrounding_whitespace_or_a_changed_prefix() -> None:
    token = mint_token().token

    for text in (token + "\n", " " + token, "TESTRUN_" + token[8:], token[:-1]):
        with pytest.raises(Unauthorized):
            parse_token(text)


# --- the secret stays secret -----------------------------------------------


def test_a_minted_tokens_repr_and_str_show_the_id_but_never_the_secret() -> None:
    minted = mint_token()

    for text in (repr(minted), str(minted), f"{minted}", repr([minted])):
        assert minted.token_id in text
        assert minted.secret not in text
        assert minted.token not in text
        assert "<hidden>" in text


def test_a_refused_token_is_never_in_the_exception() -> None:
    typo = swap_one_character(mint_token().token, 30)

    with pytest.raises(Unauthorized) as caught:
        parse_token(typo)

    assert typo not in str(caught.value)
    assert typo[21:64] not in repr(caught.value)
    assert typo[21:64] not in str(caught.value.body())


def test_minted_token_is_immutable() -> None:
    minted = mint_token()

    with pytest.raises(AttributeError):
        minted.secret = "x"  # type: ignore[misc]


# --- hashing -----------------------------------------------------------------


def test_the_hash_is_a_bcrypt_hash_of_the_secret_at_the_given_cost() -> None:
    minted = mint_token()
    hashed = hash_secret(minted.secret, ROUNDS)

    assert hashed.startswith(b"$2b$04$")
    assert bcrypt.checkpw(minted.secret.encode(), hashed)
    assert minted.secret.encode() not in hashed


def test_secret_matches_only_the_right_secret() -> None:
    minted = mint_token()
    hashed = hash_secret(minted.secret, ROUNDS)

    assert secret_matches(minted.secret, hashed)
    assert not secret_matches(mint_token().secret, hashed)
    assert not secret_matches(minted.secret[:-1], hashed)


def test_secret_matches_is_false_for_a_stored_value_that_is_not_a_bcrypt_hash() -> None:
    assert not secret_matches(mint_token().secret, b"not a bcrypt hash")


# --- create_token ------------------------------------------------------------


def test_create_token_stores_a_record_without_the_secret_and_returns_the_token() -> None:
    store = RecordingStore()

    minted, record = create_token(
        store, project=PROJECT, scopes=["ingest"], expires_in_days=None, bcrypt_rounds=ROUNDS, now=NOW
    )

    assert isinstance(minted, MintedToken)
    assert store.inserted == [record]
    assert record.token_id == minted.token_id
    assert record.project == PROJECT
    assert record.scopes == ("ingest",)
    assert record.created_at == NOW
    assert record.expires_at is None
    assert record.revoked_at is None
    assert secret_matches(minted.secret, record.secret_hash)
    assert minted.secret not in repr(record)


def test_create_token_sets_the_expiry_from_now() -> None:
    _, record = create_token(
        RecordingStore(), project=PROJECT, scopes=["read"], expires_in_days=1.5, bcrypt_rounds=ROUNDS, now=NOW
    )

    assert record.expires_at == "2026-01-13T22:00:00.000000Z"


def test_create_token_without_now_stamps_the_current_time() -> None:
    _, record = create_token(
        RecordingStore(), project=PROJECT, scopes=["read"], expires_in_days=None, bcrypt_rounds=ROUNDS
    )

    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", record.created_at)


def test_project_scopes_are_deduplicated_and_put_in_canonical_order() -> None:
    _, record = create_token(
        RecordingStore(),
        project=PROJECT,
        scopes=["read", "ingest", "read"],
        expires_in_days=None,
        bcrypt_rounds=ROUNDS,
        now=NOW,
    )

    assert record.scopes == ("ingest", "read")


def test_an_admin_token_has_no_project_and_only_the_admin_scope() -> None:
    _, record = create_token(
        RecordingStore(), project=None, scopes=["admin"], expires_in_days=None, bcrypt_rounds=ROUNDS, now=NOW
    )

    assert record.project is None
    assert record.scopes == ("admin",)


@pytest.mark.parametrize(
    ("project", "scopes", "named"),
    [
        (PROJECT, ["ingest", "write"], "'write'"),
        (PROJECT, ["admin"], "'admin'"),
        (PROJECT, [], "at least one scope"),
        (None, ["ingest"], "'ingest'"),
        (None, ["admin", "read"], "'read'"),
        (None, [], "at least one scope"),
    ],
)
def test_create_token_refuses_scopes_that_do_not_fit_the_kind_of_token(
    project: Project | None, scopes: list[str], named: str
) -> None:
    store = RecordingStore()

    with pytest.raises(BadRequest) as caught:
        create_token(store, project=project, scopes=scopes, expires_in_days=None, bcrypt_rounds=ROUNDS, now=NOW)

    assert named in caught.value.message
    assert store.inserted == []


def test_create_token_refuses_a_single_string_as_scopes() -> None:
    with pytest.raises(TypeError):
        create_token(
            RecordingStore(), project=PROJECT, scopes="ingest", expires_in_days=None, bcrypt_rounds=ROUNDS, now=NOW
        )


@pytest.mark.parametrize("days", [0, -1, float("nan"), float("inf"), 1e12])
def test_create_token_refuses_an_expiry_that_is_not_a_positive_reachable_number_of_days(days: float) -> None:
    store = RecordingStore()

    with pytest.raises(BadRequest, match="expires_in_days"):
        create_token(store, project=PROJECT, scopes=["ingest"], expires_in_days=days, bcrypt_rounds=ROUNDS, now=NOW)

    assert store.inserted == []
