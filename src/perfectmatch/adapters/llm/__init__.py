"""Chat adapters: ``OpenAICompatClient`` (OpenAI and DeepSeek over the ``openai`` SDK) and ``ScriptedChatClient``."""

from perfectmatch.adapters.llm.openai_compat import DEEPSEEK, OPENAI, OpenAICompatClient, ProviderProfile
from perfectmatch.adapters.llm.scripted import ScriptedChatClient

__all__ = ["DEEPSEEK", "OPENAI", "OpenAICompatClient", "ProviderProfile", "ScriptedChatClient"]
