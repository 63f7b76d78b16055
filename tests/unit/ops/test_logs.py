"""The redacting filter and JSON formatter on their own."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perfectmatch.ops.logs import RedactingFilter, configure, run_context


@pytest.fixture
def buf() -> Iterator[io.StringIO]:
    out = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = configure("INFO", json=True, stream=out, secrets=["literal-secret-value"])
    yield out
    root.removeHandler(handler)
    root.setLevel(level)


def records(buf: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buf.getvalue().splitlines()]


def test_keys_emails_and_prose_are_redacted(buf: io.StringIO) -> None:
    log = logging.getLogger("perfectmatch.test")
    with run_context("r1") as rid:
        log.info("key %s token=%s mail %s", "sk-proj-abcdefghijklmnop", "abcd1234efgh", "ann.lee@mail.example.com")
        log.info("headers %s", {"Authorization": "Bearer abc.def.ghi.jkl", "x": "literal-secret-value"})
        log.info("she wrote: I really love long walks on the beach at sunset with friends")
    log.info("outside")
    recs = records(buf)
    assert [r["run_id"] for r in recs] == [rid, rid, rid, None]
    text = buf.getvalue()
    for leaked in ("sk-proj", "abcd1234efgh", "ann.lee", "abc.def", "literal-secret-value", "walks on the beach"):
        assert leaked not in text
    assert recs[0]["msg"] == "key [secret] token=[secret] mail [email]"
    assert recs[1]["msg"] == "headers {'Authorization': '[secret]', 'x': '[secret]'}"
    assert recs[2]["msg"] == "[text: 71 chars]"


def test_exceptions_and_long_arguments_are_scrubbed(buf: io.StringIO) -> None:
    log = logging.getLogger("perfectmatch.test")
    try:
        raise RuntimeError("failed for bob@example.org")
    except RuntimeError:
        log.exception("boom %s", "x" * 200)
    rec = records(buf)[0]
    assert rec["msg"] == "boom [text: 200 chars]"
    assert "bob@example.org" not in rec["exc"] and "[email]" in rec["exc"] and "RuntimeError" in rec["exc"]


def test_short_identifiers_survive() -> None:
    f = RedactingFilter()
    msg = "stage analysis done: pairs=120 provider='openai' day=2026-11-25 seconds=3.5"
    assert f.scrub(msg) == msg


@settings(max_examples=60, deadline=None)
@given(local=st.from_regex(r"[a-z][a-z0-9._]{2,15}", fullmatch=True),
       domain=st.from_regex(r"[a-z]{3,10}\.(com|org|net)", fullmatch=True),
       words=st.lists(st.from_regex(r"[A-Za-z]{2,9}", fullmatch=True), min_size=8, max_size=30))
def test_any_email_and_any_long_sentence_is_removed(local: str, domain: str, words: list[str]) -> None:
    email = f"{local}@{domain}"
    sentence = " ".join(words)
    out = RedactingFilter().scrub(f"user {email} answered {sentence}.")
    assert email not in out and sentence not in out
