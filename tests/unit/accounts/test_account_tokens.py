"""Verification tokens: only tokens we signed pass the signature check, and any tampering is refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from perfectmatch.accounts.tokens import check_secret, issue_token, login_key, token_hash, verify_signature
from perfectmatch.errors import ConfigError, InvalidToken

SECRET = "s" * 16 + "e" * 16
OTHER = "o" * 40
TOKEN = issue_token(SECRET)


def test_issued_token_verifies_and_hash_is_what_is_stored() -> None:
    issued = issue_token(SECRET)
    assert verify_signature(SECRET, issued.token) == issued.token_hash == token_hash(issued.token)
    assert verify_signature(SECRET, f" {issued.token}\r\n") == issued.token_hash
    assert issued.token not in repr(issued)  # never printed by accident
    assert issue_token(SECRET).token != issued.token


def test_token_signed_with_another_secret_is_forged() -> None:
    with pytest.raises(InvalidToken) as err:
        verify_signature(SECRET, issue_token(OTHER).token)
    assert err.value.reason == "forged"


@given(st.integers(min_value=0), st.characters(codec="ascii", exclude_characters="\n"))
def test_changing_any_character_is_refused(index: int, new: str) -> None:
    token = TOKEN.token
    i = index % len(token)
    tampered = token[:i] + new + token[i + 1 :]
    if tampered == token:
        return
    with pytest.raises(InvalidToken) as err:
        verify_signature(SECRET, tampered)
    assert err.value.reason == "forged"


@given(st.text(max_size=200))
def test_arbitrary_strings_are_refused_with_a_typed_error(text: str) -> None:
    with pytest.raises(InvalidToken):
        verify_signature(SECRET, text)


@given(st.integers(min_value=1, max_value=len(TOKEN.token) - 1), st.text(min_size=1, max_size=5).filter(str.strip))
def test_truncated_or_extended_tokens_are_refused(cut: int, extra: str) -> None:
    """(Surrounding whitespace alone is ignored: a pasted link often brings a newline.)"""
    for bad in (TOKEN.token[:cut], TOKEN.token + extra):
        with pytest.raises(InvalidToken):
            verify_signature(SECRET, bad)


@pytest.mark.parametrize("secret", [None, "", "short secret"])
def test_missing_or_short_secret_is_a_config_error(secret: str | None) -> None:
    with pytest.raises(ConfigError, match="TOKEN_SECRET"):
        check_secret(secret)
    with pytest.raises(ConfigError):
        issue_token(secret)


def test_login_key_hides_the_email_and_depends_on_the_secret() -> None:
    key = login_key(SECRET, "ann@example.com")
    assert key == login_key(SECRET, "ann@example.com") and len(key) == 64
    assert "ann" not in key
    assert key != login_key(OTHER, "ann@example.com") != login_key(SECRET, "bob@example.com")
