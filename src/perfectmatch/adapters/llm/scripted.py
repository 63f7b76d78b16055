"""``ScriptedChatClient``: a ``ports.ChatClient`` that replays scripted answers and errors, recording calls."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from perfectmatch.ports import ChatMessage, Completion

Step = str | BaseException | Callable[[Sequence[ChatMessage]], str]


class ScriptedChatClient:
    """Answers each call with the next scripted step: a text, an exception to raise, or a function of the messages.

    When the script runs out, ``default`` (a step) answers every further call. ``calls`` records
    the messages and arguments of every call.
    """

    def __init__(self, steps: Iterable[Step] = (), *, name: str = "scripted", default: Step | None = None,
                 model: str = "scripted-model") -> None:
        self.name = name
        self.model = model
        self._steps = list(steps)
        self._default = default
        self.calls: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def complete(
        self, messages: Sequence[ChatMessage], *, timeout_s: float, json_schema: Mapping[str, Any] | None = None
    ) -> Completion:
        with self._lock:
            self.calls.append({"messages": list(messages), "timeout_s": timeout_s, "json_schema": json_schema})
            step = self._steps.pop(0) if self._steps else self._default
        if step is None:
            raise AssertionError("ScriptedChatClient: script exhausted and no default")
        if isinstance(step, BaseException):
            raise step
        text = step(messages) if callable(step) else step
        chars = sum(len(m.content) for m in messages)
        return Completion(text=text, model=self.model, prompt_tokens=chars // 4, completion_tokens=len(text) // 4)
