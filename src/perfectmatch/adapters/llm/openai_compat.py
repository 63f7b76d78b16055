"""``OpenAICompatClient``: ``ports.ChatClient`` over the official ``openai`` SDK, for OpenAI and DeepSeek.

The SDK's own retries are off (``max_retries=0``): ``perfectmatch.ai.resilience`` owns retrying.
SDK errors become ``ProviderError`` / ``ProviderTimeout`` / ``ProviderRateLimited`` here, at the
boundary. A ``ProviderProfile`` says what a provider supports: DeepSeek has no strict JSON-schema
mode (plain JSON mode instead, and the prompt must say JSON), may return empty content and has no
embeddings endpoint.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from perfectmatch.errors import ConfigError, ProviderError, ProviderRateLimited, ProviderTimeout
from perfectmatch.ports import ChatMessage, Completion


@dataclass(frozen=True)
class ProviderProfile:
    """Capabilities of one OpenAI-compatible provider."""

    name: str
    json_schema_mode: bool = True
    embeddings: bool = True
    empty_content_possible: bool = False


OPENAI = ProviderProfile("openai")
DEEPSEEK = ProviderProfile("deepseek", json_schema_mode=False, embeddings=False, empty_content_possible=True)


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    if not headers:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return float(ms) / 1000.0
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value:
        try:
            return float(value)
        except ValueError:
            return None
    return None


def translate_error(provider: str, exc: Exception) -> ProviderError:
    """Map an ``openai`` SDK exception to the ``perfectmatch.errors`` tree."""
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return ProviderTimeout(provider, "request timed out")
    if isinstance(exc, openai.RateLimitError):
        return ProviderRateLimited(provider, "rate limited (429)", retry_after_s=_retry_after(exc.response.headers))
    if isinstance(exc, openai.APIStatusError):
        return ProviderError(provider, f"HTTP {exc.status_code}: {str(exc)[:200]}", status=exc.status_code)
    if isinstance(exc, openai.APIConnectionError):
        return ProviderError(provider, f"connection failed: {exc}")
    return ProviderError(provider, f"{type(exc).__name__}: {str(exc)[:200]}")


class OpenAICompatClient:
    """A chat-completions client for one provider, base URL, key and model.

    Parameters
    ----------
    profile
        ``OPENAI`` or ``DEEPSEEK`` (or your own ``ProviderProfile``); its name is ``self.name``.
    http_client
        Optional ``httpx`` client handed to the SDK (tests, proxies).
    temperature
        Sampling temperature for analysis requests.
    """

    def __init__(
        self,
        *,
        api_key: str,
        model: str,
        base_url: str | None = None,
        profile: ProviderProfile = OPENAI,
        http_client: Any = None,
        temperature: float = 0.4,
        max_tokens: int | None = None,
    ) -> None:
        try:
            import openai
        except ImportError as exc:  # pragma: no cover - openai is a core dependency
            raise ImportError("pip install openai") from exc
        if not api_key:
            raise ConfigError(f"{profile.name}: an API key is required")
        self.name = profile.name
        self.profile = profile
        self.model = model
        self.temperature = temperature
        self.max_tokens = max_tokens
        self._client = openai.OpenAI(api_key=api_key, base_url=base_url, max_retries=0, http_client=http_client)

    def response_format(self, json_schema: Mapping[str, Any] | None) -> dict[str, Any]:
        """Strict ``json_schema`` mode when asked and supported, plain JSON mode otherwise."""
        if json_schema is not None and self.profile.json_schema_mode:
            return {"type": "json_schema", "json_schema": dict(json_schema)}
        return {"type": "json_object"}

    def complete(
        self, messages: Sequence[ChatMessage], *, timeout_s: float, json_schema: Mapping[str, Any] | None = None
    ) -> Completion:
        """One chat completion in JSON mode; raises ``ProviderError`` subclasses on failure.

        Raises
        ------
        ProviderTimeout, ProviderRateLimited, ProviderError
            Timeouts, 429s (with ``retry_after_s``), other HTTP errors, connection failures and
            empty answers.
        """
        import openai

        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "response_format": self.response_format(json_schema),
            "temperature": self.temperature,
            "timeout": timeout_s,
        }
        if self.max_tokens is not None:
            kwargs["max_tokens"] = self.max_tokens
        try:
            resp = self._client.chat.completions.create(**kwargs)
        except openai.OpenAIError as exc:
            raise translate_error(self.name, exc) from exc
        except json.JSONDecodeError as exc:  # a non-JSON HTTP body
            raise ProviderError(self.name, f"response body is not JSON: {exc.msg}") from exc
        if not resp.choices:
            raise ProviderError(self.name, "answer has no choices")
        text = resp.choices[0].message.content or ""
        if not text.strip():
            raise ProviderError(self.name, "empty content")
        usage = resp.usage
        return Completion(
            text=text,
            model=resp.model or self.model,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
        )

    def embed(self, texts: Sequence[str], *, model: str, timeout_s: float = 30.0, dimensions: int | None = None) -> Any:
        """Raw embeddings (list of float lists) for ``texts``; refused for providers without embeddings."""
        import openai

        if not self.profile.embeddings:
            raise ProviderError(self.name, "this provider has no embeddings endpoint")
        kwargs: dict[str, Any] = {"model": model, "input": list(texts), "timeout": timeout_s}
        if dimensions is not None:
            kwargs["dimensions"] = dimensions
        try:
            resp = self._client.embeddings.create(**kwargs)
        except openai.OpenAIError as exc:
            raise translate_error(self.name, exc) from exc
        return [d.embedding for d in sorted(resp.data, key=lambda d: d.index)]

    def close(self) -> None:
        self._client.close()
