"""OpenAICompatClient and OpenAIEmbedder over HTTP against the fake server: errors, capabilities, embeddings."""

from __future__ import annotations

import numpy as np
import pytest

from conftest_ai import make_pairs
from perfectmatch.adapters.embed.openai import OpenAIEmbedder
from perfectmatch.adapters.llm import DEEPSEEK, OPENAI, OpenAICompatClient
from perfectmatch.ai.prompts import compat_messages
from perfectmatch.ai.schema import COMPAT_BATCH_SCHEMA, parse_compat_batch
from perfectmatch.errors import ConfigError, ProviderError, ProviderRateLimited, ProviderTimeout


def client(srv, profile=OPENAI) -> OpenAICompatClient:
    return OpenAICompatClient(api_key="k", base_url=srv.base_url, model="m", profile=profile)


def test_completion_parses_and_reports_tokens(fake_openai) -> None:
    srv = fake_openai(keep_log=1)
    pairs = make_pairs(3)
    comp = client(srv).complete(compat_messages(pairs), timeout_s=2, json_schema=COMPAT_BATCH_SCHEMA)
    assert set(parse_compat_batch(comp.text, [p.pair_id for p in pairs]).items) == {p.pair_id for p in pairs}
    assert comp.prompt_tokens > 0 and comp.completion_tokens > 0 and comp.model == "m"
    assert srv.log[0]["body"]["response_format"]["type"] == "json_schema"


@pytest.mark.parametrize(
    ("fault", "error", "status"),
    [("429", ProviderRateLimited, 429), ("500", ProviderError, 500), ("503", ProviderError, 503),
     ("timeout", ProviderTimeout, None), ("empty", ProviderError, None)],
)
def test_sdk_errors_are_translated_without_sdk_retries(fake_openai, fault, error, status) -> None:
    srv = fake_openai(script=[fault], retry_after_s=0.25, hang_s=0.5)
    with pytest.raises(error) as info:
        client(srv).complete(compat_messages(make_pairs(1)), timeout_s=0.2)
    assert info.value.status == status and info.value.provider == "openai"
    if fault == "429":
        assert info.value.retry_after_s == 0.25
    assert srv.total_requests == 1  # max_retries=0: the SDK did not retry


def test_deepseek_profile_downgrades_schema_mode(fake_openai) -> None:
    srv = fake_openai(reject_json_schema=True, keep_log=2)
    msgs = compat_messages(make_pairs(2))
    comp = client(srv, DEEPSEEK).complete(msgs, timeout_s=2, json_schema=COMPAT_BATCH_SCHEMA)
    assert srv.log[0]["body"]["response_format"] == {"type": "json_object"} and comp.text
    with pytest.raises(ProviderError) as info:  # the same request in strict mode is refused by DeepSeek
        client(srv, OPENAI).complete(msgs, timeout_s=2, json_schema=COMPAT_BATCH_SCHEMA)
    assert info.value.status == 400


def test_embedder_shapes_norms_and_determinism(fake_openai) -> None:
    srv = fake_openai()
    emb = OpenAIEmbedder(client(srv), dim=64, chunk_size=2)
    vecs = emb.embed(["hiking and tea", "", "books", "hiking and tea"])
    assert vecs.shape == (4, 64) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs[[0, 2, 3]], axis=1), 1.0, atol=1e-5)
    assert not vecs[1].any() and np.array_equal(vecs[0], vecs[3])
    assert srv.requests["/v1/embeddings"] == 2
    with pytest.raises(ConfigError, match="no embeddings"):
        OpenAIEmbedder(client(srv, DEEPSEEK))


def test_missing_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        OpenAICompatClient(api_key="", model="m")
