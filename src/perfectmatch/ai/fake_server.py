"""``FakeOpenAIServer``: an OpenAI-compatible HTTP server on 127.0.0.1 with deterministic answers and faults.

Serves ``POST /v1/chat/completions``, ``POST /v1/embeddings`` and ``GET /v1/models``. Answers are
derived from the request: the JSON data section of our prompts (``<pair_data>`` / ``<profile_data>``) is parsed and
every pair gets a plausible analysis whose score follows its vector similarities
(:func:`expected_score`), so tests can check that nothing was mis-assigned. Faults are injected by
rate (seeded) or by script: ``429`` (with ``Retry-After``), ``500``, ``503``, ``timeout`` (hangs),
``malformed``, ``truncated``, ``wrong_schema``, ``missing_ids``, ``empty``. With
``reject_json_schema=True`` it behaves like DeepSeek: strict schema mode is a 400 and JSON mode
needs the word JSON in the prompt. Stdlib only; used by tests, benchmarks and
``perfectmatch ai fake-server``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FAULT_KINDS: tuple[str, ...] = (
    "429", "500", "503", "timeout", "malformed", "truncated", "wrong_schema", "missing_ids", "empty",
)
_SECTION = re.compile(r"<(pair_data|profile_data)>\n(.*?)\n</\1>", re.DOTALL)
FACTOR_NAMES = ("Core values", "Communication style", "Relationship expectations", "Lifestyle",
                "Emotional intelligence", "Personality traits", "Interests")


def _h(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:4], "big")


def expected_score(payload: Mapping[str, Any]) -> float:
    """The score the fake gives a pair payload: mean vector similarity x 100 (0-100), plus a stable offset."""
    sims = [float(v) for v in (payload.get("vectorSimilarity") or {}).values()]
    base = sum(sims) / len(sims) * 100 if sims else 50.0
    offset = (_h(json.dumps(payload.get("userA"), sort_keys=True)) % 7) - 3
    return round(min(100.0, max(0.0, base + offset)), 1)


def _shared(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    return [k for k in sorted(set(a) & set(b)) if a[k] == b[k] and not isinstance(a[k], (dict, list))]


def fake_item(payload: Mapping[str, Any]) -> dict[str, Any]:
    """A valid analysis item for one pair payload (as parsed from the prompt's data section)."""
    score = expected_score(payload)
    sims = payload.get("vectorSimilarity") or {}
    names = list(sims)[:7]
    factors = [{"name": n, "score": round(min(100.0, max(0.0, float(sims[n]) * 100)), 1),
                "description": f"Similarity on {n}."} for n in names]
    for extra in FACTOR_NAMES:
        if len(factors) >= 5:
            break
        factors.append({"name": extra, "score": score, "description": f"Estimated {extra.lower()} fit."})
    shared = _shared(payload.get("userA") or {}, payload.get("userB") or {})
    starters = [f"You both chose the same answer on {k}; what made you pick it?" for k in shared[:3]]
    starters += ["What does a great weekend look like for you?", "What are you curious about lately?",
                 "Which trip do you still dream about?"][: max(0, 3 - len(starters))]
    return {
        "pairId": payload.get("pairId"),
        "compatibilityScore": score,
        "compatibilityFactors": factors,
        "summary": f"A {'strong' if score >= 70 else 'moderate'} match.",
        "detailedAnalysis": f"Overall similarity suggests a score of {score}. Shared answers: {len(shared)}.",
        "conversationStarters": starters,
        "potentialChallenges": ["Different pace of life.", "Different communication habits."],
    }


def _answer_for(messages: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    text = "\n".join(str(m.get("content") or "") for m in messages if m.get("role") == "user")
    match = _SECTION.search(text)
    if match is None:
        return "unknown", []
    payloads = [json.loads(line) for line in match.group(2).splitlines() if line.strip()]
    if match.group(1) == "profile_data":
        return "profile", payloads
    if "conversationStarters\": [string]}" in text and "analyses" not in text:
        return "starters", payloads
    return "compat", payloads


class FakeOpenAIServer:
    """The fake server; ``with FakeOpenAIServer(...) as srv: srv.base_url``.

    Parameters
    ----------
    port
        ``0`` picks a free port.
    latency_s
        Delay before every answer.
    fault_rate, fault_kinds, seed
        Each request fails with probability ``fault_rate``, the kind drawn from ``fault_kinds``.
    script
        Fault kinds (or ``None`` for a normal answer) used in order before the rate applies.
    retry_after_s
        Sent with 429s as ``retry-after-ms`` (and whole seconds in ``retry-after``).
    hang_s
        How long a ``timeout`` fault hangs before answering 504.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        latency_s: float = 0.0,
        fault_rate: float = 0.0,
        fault_kinds: Iterable[str] = FAULT_KINDS,
        script: Iterable[str | None] = (),
        seed: int = 0,
        retry_after_s: float = 0.05,
        hang_s: float = 2.0,
        reject_json_schema: bool = False,
        model: str = "fake-model",
        keep_log: int = 0,
    ) -> None:
        self.host = host
        self.port = port
        self.latency_s = latency_s
        self.retry_after_s = retry_after_s
        self.hang_s = hang_s
        self.reject_json_schema = reject_json_schema
        self.model = model
        self.keep_log = keep_log
        self._lock = threading.Lock()
        self.set_faults(rate=fault_rate, kinds=fault_kinds, script=script, seed=seed)
        self.requests = Counter[str]()
        self.faults = Counter[str]()
        self.by_payload = Counter[str]()
        self.answered_pairs = Counter[str]()
        self.log: list[dict[str, Any]] = []
        self.arrivals: list[float] = []  # time.monotonic() of every request, in arrival order
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ control
    def set_faults(self, *, rate: float = 0.0, kinds: Iterable[str] = FAULT_KINDS,
                   script: Iterable[str | None] = (), seed: int = 0) -> None:
        """Replace the fault plan (thread-safe); unknown kinds raise ``ValueError``."""
        kinds = tuple(kinds)
        bad = [k for k in [*kinds, *(s for s in script if s)] if k not in FAULT_KINDS]
        if bad:
            raise ValueError(f"unknown fault kind(s) {bad}; choose from {', '.join(FAULT_KINDS)}")
        with self._lock:
            self.fault_rate = rate
            self.fault_kinds = kinds
            self.script = list(script)
            self._rng = random.Random(seed)

    def _next_fault(self) -> str | None:
        with self._lock:
            if self.script:
                return self.script.pop(0)
            if self.fault_rate > 0 and self._rng.random() < self.fault_rate:
                return self._rng.choice(self.fault_kinds)
            return None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def total_requests(self) -> int:
        with self._lock:
            return sum(self.requests.values())

    def start(self) -> FakeOpenAIServer:
        """Bind and serve in a daemon thread; ``port`` is the bound port afterwards."""
        handler = type("Handler", (_Handler,), {"fake": self})
        self._httpd = ThreadingHTTPServer((self.host, self.port), handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-openai", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Block the calling thread until interrupted, starting the server first if needed (the CLI uses this)."""
        if self._httpd is None:
            self.start()
        assert self._thread is not None
        try:
            while self._thread.is_alive():
                self._thread.join(0.5)
        finally:
            self.stop()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ answers
    def chat(self, body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        """Status, extra headers and JSON body (or raw ``bytes``) for one chat request."""
        messages = body.get("messages") or []
        fmt = (body.get("response_format") or {}).get("type")
        if self.reject_json_schema and fmt == "json_schema":
            return 400, {}, _err("This response_format type is unavailable now", "invalid_request_error")
        if fmt == "json_object" and not any("json" in str(m.get("content", "")).lower() for m in messages):
            return 400, {}, _err("Prompt must contain the word 'json' to use json_object", "invalid_request_error")
        kind, payloads = _answer_for(messages)
        with self._lock:
            self.by_payload[hashlib.sha256(json.dumps(payloads, sort_keys=True).encode()).hexdigest()[:16]] += 1
        fault = self._next_fault()
        if fault is not None:
            with self._lock:
                self.faults[fault] += 1
        if fault == "429":
            ms = int(self.retry_after_s * 1000)
            hdrs = {"retry-after-ms": str(ms), "retry-after": str(max(1, round(self.retry_after_s)))}
            return 429, hdrs, _err("Rate limit reached", "rate_limit_error")
        if fault in ("500", "503"):
            return int(fault), {}, _err("The server had an error", "server_error")
        if fault == "timeout":
            time.sleep(self.hang_s)
            return 504, {}, _err("gateway timeout", "server_error")
        if kind == "compat":
            items = [fake_item(p) for p in payloads]
            if fault == "missing_ids" and items:
                ghost = dict(items[0], pairId=f"ghost-{items[0]['pairId']}")
                items = [*items[1:], ghost]
            if fault == "wrong_schema":
                items = [dict(it, compatibilityScore=140 + i, conversationStarters=[]) for i, it in enumerate(items)]
            answer: dict[str, Any] = {"analyses": items}
        elif kind == "profile":
            data = payloads[0] if payloads else {}
            answer = {"summary": f"Answered {len(data)} questionnaire items.",
                      "keyTraits": ([*sorted(map(str, data))[:4], "curious", "kind", "open"])[:4]}
        elif kind == "starters":
            answer = {"conversationStarters": fake_item(payloads[0] if payloads else {})["conversationStarters"]}
        else:
            answer = {"answer": "ok"}
        text = json.dumps(answer)
        if fault == "malformed":
            text = "Sure! Here is the analysis you asked for: {analyses: [oops"
        elif fault == "truncated":
            text = text[: max(1, len(text) // 2)]
        elif fault == "empty":
            text = ""
        elif kind == "compat":
            with self._lock:
                self.answered_pairs.update(str(it["pairId"]) for it in answer["analyses"])
        prompt_chars = sum(len(str(m.get("content") or "")) for m in messages)
        return 200, {}, {
            "id": f"chatcmpl-{_h(text + str(time.monotonic_ns())):08x}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model") or self.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_chars // 4, "completion_tokens": len(text) // 4,
                      "total_tokens": prompt_chars // 4 + len(text) // 4},
        }

    def embeddings(self, body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        """Deterministic pseudo-random unit vectors per input text."""
        if self.reject_json_schema:
            return 404, {}, _err("Not found", "invalid_request_error")
        inputs = body.get("input")
        texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
        dim = int(body.get("dimensions") or 1536)
        as_b64 = body.get("encoding_format") == "base64"
        data = []
        for i, text in enumerate(texts):
            rng = random.Random(_h(str(text)))
            vec = [rng.gauss(0.0, 1.0) for _ in range(dim)]
            norm = sum(v * v for v in vec) ** 0.5 or 1.0
            vec = [v / norm for v in vec]
            emb: Any = base64.b64encode(struct.pack(f"<{dim}f", *vec)).decode() if as_b64 else vec
            data.append({"object": "embedding", "index": i, "embedding": emb})
        tokens = sum(len(str(t)) for t in texts) // 4
        return 200, {}, {"object": "list", "data": data, "model": body.get("model") or "fake-embedding",
                         "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


def _err(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "code": None}}


class _Handler(BaseHTTPRequestHandler):
    fake: FakeOpenAIServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, headers: Mapping[str, str], body: Any) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(raw)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def do_GET(self) -> None:
        path = self.path.split("?")[0].rstrip("/")
        if path.endswith("/models"):  # what health checks probe
            self._send(200, {}, {"object": "list", "data": [{"id": self.fake.model, "object": "model"}]})
        else:
            self._send(404, {}, _err(f"unknown path {path}", "invalid_request_error"))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            self._send(400, {}, _err("body is not JSON", "invalid_request_error"))
            return
        fake = self.fake
        path = self.path.split("?")[0].rstrip("/")
        with fake._lock:
            fake.arrivals.append(time.monotonic())
            fake.requests[path] += 1
            if fake.keep_log and len(fake.log) < fake.keep_log:
                fake.log.append({"path": path, "body": body, "raw": raw})
        if fake.latency_s:
            time.sleep(fake.latency_s)
        if path.endswith("/chat/completions"):
            self._send(*fake.chat(body))
        elif path.endswith("/embeddings"):
            self._send(*fake.embeddings(body))
        else:
            self._send(404, {}, _err(f"unknown path {path}", "invalid_request_error"))
