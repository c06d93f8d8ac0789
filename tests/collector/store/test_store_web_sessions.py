"""Web page sessions in the store, on every backend: kept by the hash of their id, ended with their token."""

from __future__ import annotations

import hashlib

import pytest

from collector.errors import NotFound
from collector.model import Project, TokenRecord
from collector.store.base import Store

ID_HASH = hashlib.sha256(b"a session id").digest()
OTHER_HASH = hashlib.sha256(b"another session id").digest()


def at(minute: int) -> str:
    return f"2026-01-12T10:{minute:02d}:00.000000Z"


@pytest.fixture
def token(store: Store, project: Project) -> TokenRecord:
    record = TokenRecord("readtok", b"$2b$04$hash", project, ("read",), at(0))
    store.insert_token(record)
    return record


def test_a_session_is_found_by_its_hash_with_its_tokens_row(store: Store, token: TokenRecord) -> None:
    store.create_web_session(ID_HASH, token.token_id, at(1))

    found = store.get_web_session(ID_HASH)

    assert found is not None
    assert (found.id_hash, found.created_at, found.last_seen_at) == (ID_HASH, at(1), at(1))
    assert found.token == token
    assert store.get_web_session(OTHER_HASH) is None


def test_touching_a_session_moves_only_its_last_seen(store: Store, token: TokenRecord) -> None:
    store.create_web_session(ID_HASH, token.token_id, at(1))

    store.touch_web_session(ID_HASH, at(5))

    found = store.get_web_session(ID_HASH)
    assert found is not None and (found.created_at, found.last_seen_at) == (at(1), at(5))


def test_deleting_a_session_ends_it_and_only_it(store: Store, token: TokenRecord) -> None:
    store.create_web_session(ID_HASH, token.token_id, at(1))
    store.create_web_session(OTHER_HASH, token.token_id, at(1))

    assert store.delete_web_session(ID_HASH) is True
    assert store.delete_web_session(ID_HASH) is False
    assert store.get_web_session(ID_HASH) is None
    assert store.get_web_session(OTHER_HASH) is not None


def test_revoking_a_token_deletes_its_sessions(store: Store, project: Project, token: TokenRecord) -> None:
    other = TokenRecord("othertok", b"$2b$04$hash", project, ("read",), at(0))
    store.insert_token(other)
    store.create_web_session(ID_HASH, token.token_id, at(1))
    store.create_web_session(OTHER_HASH, other.token_id, at(1))

    assert store.revoke_token(token.token_id, at(2))

    assert store.get_web_session(ID_HASH) is None
    assert store.get_web_session(OTHER_HASH) is not None


def test_a_session_of_an_unknown_token_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound, match="token 'nosuch' not found"):
        store.create_web_session(ID_HASH, "nosuch", at(1))


def test_purging_deletes_idle_and_too_old_sessions_in_bounded_batches(store: Store, token: TokenRecord) -> None:
    hashes = [hashlib.sha256(str(i).encode()).digest() for i in range(5)]
    store.create_web_session(hashes[0], token.token_id, at(1))  # idle since 10:01
    store.create_web_session(hashes[1], token.token_id, at(2))  # idle since 10:02
    store.create_web_session(hashes[2], token.token_id, at(0))  # created 10:00, busy
    store.touch_web_session(hashes[2], at(30))
    store.create_web_session(hashes[3], token.token_id, at(20))  # live
    store.create_web_session(hashes[4], token.token_id, at(21))  # live

    assert store.purge_web_sessions(idle_before=at(10), created_before=at(0), limit=1) == 1
    assert store.purge_web_sessions(idle_before=at(10), created_before=at(5), limit=10) == 2

    left = [h for h in hashes if store.get_web_session(h) is not None]
    assert left == hashes[3:]
