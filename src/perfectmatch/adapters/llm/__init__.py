"""Chat adapters: ``OpenAICompatClient`` (OpenAI and DeepSeek over the ``openai`` SDK) and ``ScriptedChatClient``."""

from __future__ import annotations

from perfectmatch.adapters.llm.openai_compat import DEEPSEEK, OPENAI, OpenAICompatClient, ProviderProfile
from perfectmatch.adapters.llm.scripted import ScriptedChatClient
from perfectmatch.ai.factory import ProviderSpec


def client_for(spec: ProviderSpec) -> OpenAICompatClient:
    """The ``OpenAICompatClient`` for one planned provider (DeepSeek gets the DeepSeek profile).

    Pass it to ``perfectmatch.ai.build_analyzer(..., make_client=client_for)``.
    """
    return OpenAICompatClient(api_key=spec.api_key, base_url=spec.base_url, model=spec.model,
                              profile=DEEPSEEK if spec.name == "deepseek" else OPENAI)


__all__ = ["DEEPSEEK", "OPENAI", "OpenAICompatClient", "ProviderProfile", "ScriptedChatClient", "client_for"]
