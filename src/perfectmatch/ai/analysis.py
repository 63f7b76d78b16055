"""``ResilientAnalyzer``: cached, batched, validated AI analysis with per-pair fallback.

For ``analyze(pairs)``: cache hits are answered first; misses go in batches of ``batch_size`` to
the engine (bounded thread concurrency); each answer is validated per pair id, invalid or missing
items are re-asked once with their errors, and whatever is still missing comes from the
``LocalAnalyzer``. Every input pair id gets exactly one result, marked with its source.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from perfectmatch.ai.accounting import Accounting, RunSummary
from perfectmatch.ai.cache import DEFAULT_TTLS_S, cache_key, pair_inputs
from perfectmatch.ai.engine import AIEngine, Attempts
from perfectmatch.ai.fallback import LocalAnalyzer
from perfectmatch.ai.prompts import compat_messages, profile_messages, reask_message, sanitize, starters_messages
from perfectmatch.ai.resilience import Deadline
from perfectmatch.ai.schema import (
    COMPAT_BATCH_SCHEMA,
    CompatibilityItem,
    parse_compat_batch,
    parse_profile,
    parse_starters,
)
from perfectmatch.errors import AIError, InvalidInputError
from perfectmatch.ports import Cache, ChatMessage, Completion, PairAnalysis, PairContext

MATCH = "match_analysis"
PROFILE = "profile_analysis"
STARTERS = "conversation_starters"


@dataclass(frozen=True)
class ProfileAnalysis:
    """Summary and key traits of one user's questionnaire data."""

    summary: str
    key_traits: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class StarterSuggestions:
    pair_id: str
    conversation_starters: tuple[str, ...]
    source: str


def _to_analysis(pair_id: str, item: CompatibilityItem, source: str) -> PairAnalysis:
    return PairAnalysis(
        pair_id=pair_id,
        score=round(float(item.compatibility_score), 1),
        source=source,
        factors=tuple((f.name, round(float(f.score), 1), f.description) for f in item.compatibility_factors),
        summary=item.summary,
        detailed_analysis=item.detailed_analysis,
        conversation_starters=tuple(item.conversation_starters),
        challenges=tuple(item.potential_challenges),
    )


def _check_unique(pairs: Sequence[PairContext]) -> None:
    seen: set[str] = set()
    for p in pairs:
        if p.pair_id in seen:
            raise InvalidInputError(f"pair id {p.pair_id!r} appears more than once in the batch")
        seen.add(p.pair_id)


def _from_cached(pair_id: str, value: Any) -> PairAnalysis | None:
    try:
        return PairAnalysis(
            pair_id=pair_id,
            score=float(value["score"]),
            source="cache",
            factors=tuple((str(n), float(s), str(d)) for n, s, d in value["factors"]),
            summary=str(value["summary"]),
            detailed_analysis=str(value["detailed_analysis"]),
            conversation_starters=tuple(str(x) for x in value["conversation_starters"]),
            challenges=tuple(str(x) for x in value["challenges"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


class ResilientAnalyzer:
    """``ports.CompatibilityAnalyzer`` over an ``AIEngine`` (or none: local only), a cache and a fallback.

    Parameters
    ----------
    engine
        The provider engine; ``None`` means no provider is configured (everything is local).
    cache
        ``ports.Cache`` for answers (``None``: no caching). Fallback results are never cached, so a
        later run asks the AI again.
    batch_size, concurrency
        Pairs per request and requests in flight.
    batch_deadline_s
        Wall-clock budget of one batch across all its attempts, backup and re-ask.
    max_retries
        Retries per batch across providers (so at most ``1 + max_retries`` calls per batch).
    description
        Human-readable provider setup, shown by ``doctor`` and the batch summary.
    """

    def __init__(
        self,
        engine: AIEngine | None,
        *,
        cache: Cache | None = None,
        fallback: LocalAnalyzer | None = None,
        batch_size: int = 50,
        concurrency: int = 4,
        batch_deadline_s: float = 45.0,
        max_retries: int = 3,
        ttls_s: Mapping[str, float] | None = None,
        accounting: Accounting | None = None,
        description: str = "local fallback",
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.cache = cache
        self.fallback = fallback or LocalAnalyzer()
        self.batch_size = batch_size
        self.concurrency = max(1, concurrency)
        self.batch_deadline_s = batch_deadline_s
        self.max_retries = max_retries
        self.ttls_s = {**DEFAULT_TTLS_S, **(ttls_s or {})}
        self.accounting = accounting or (engine.accounting if engine is not None else Accounting())
        self.description = description
        self.monotonic = monotonic
        self.max_attempts_seen = 0

    @property
    def uses_provider(self) -> bool:
        """Whether a remote model is configured (otherwise everything comes from the local fallback)."""
        return self.engine is not None

    # ------------------------------------------------------------ helpers
    def _models(self) -> list[tuple[str, str]]:
        if self.engine is None:
            return []
        return [(n, p.model) for n, p in self.engine.providers.items()]

    def _cache_get(self, request_type: str, inputs: Any) -> Any | None:
        if self.cache is None:
            return None
        for _, model in self._models():
            value = self.cache.get(cache_key(request_type, model, inputs))
            if value is not None:
                return value
        return None

    def _cache_set(self, request_type: str, provider: str, inputs: Any, value: Any) -> None:
        if self.cache is None or self.engine is None:
            return
        model = self.engine.providers[provider].model
        self.cache.set(cache_key(request_type, model, inputs), value, ttl_s=self.ttls_s[request_type])

    def _new_budget(self) -> tuple[Deadline, Attempts]:
        return Deadline(self.batch_deadline_s, monotonic=self.monotonic), Attempts(left=1 + self.max_retries)

    def _note_attempts(self, attempts: Attempts) -> None:
        self.max_attempts_seen = max(self.max_attempts_seen, attempts.made)

    # ------------------------------------------------------------ pairs
    def analyze(self, pairs: Sequence[PairContext]) -> list[PairAnalysis]:
        """Analyse ``pairs``: exactly one ``PairAnalysis`` per pair, in input order.

        Batches run on up to ``concurrency`` worker threads.

        Raises
        ------
        InvalidInputError
            If two pairs share a pair id.
        """
        _check_unique(pairs)
        return self._analyze(pairs, concurrency=self.concurrency)

    async def analyze_async(self, pairs: Sequence[PairContext]) -> list[PairAnalysis]:
        """``analyze`` for callers inside an event loop: awaits without blocking the loop.

        At most ``concurrency`` batches are in flight (an ``asyncio.Semaphore``); each runs in a
        worker thread because the ``ChatClient`` port is synchronous.
        """
        _check_unique(pairs)
        gate = asyncio.Semaphore(self.concurrency)

        async def one(chunk: Sequence[PairContext]) -> list[PairAnalysis]:
            async with gate:
                return await asyncio.to_thread(self._analyze, chunk, concurrency=1)

        chunks = [pairs[i : i + self.batch_size] for i in range(0, len(pairs), self.batch_size)]
        parts = await asyncio.gather(*(one(c) for c in chunks))
        results = {r.pair_id: r for part in parts for r in part}
        return [results[p.pair_id] for p in pairs]

    def _analyze(self, pairs: Sequence[PairContext], *, concurrency: int) -> list[PairAnalysis]:
        results: dict[str, PairAnalysis] = {}
        misses: list[PairContext] = []
        for pair in pairs:
            hit = self._cache_get(MATCH, pair_inputs(pair))
            found = _from_cached(pair.pair_id, hit) if hit is not None else None
            if found is not None:
                results[pair.pair_id] = found
            else:
                misses.append(pair)
        if results:
            self.accounting.record_results("cache", len(results))
        batches = [misses[i : i + self.batch_size] for i in range(0, len(misses), self.batch_size)]
        if concurrency == 1 or len(batches) <= 1:
            outs = [self._run_batch(b) for b in batches]
        else:
            with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="pm-ai") as pool:
                outs = list(pool.map(self._run_batch, batches))
        for out in outs:
            results.update(out)
        return [results[p.pair_id] for p in pairs]

    def _run_batch(self, pairs: Sequence[PairContext]) -> dict[str, PairAnalysis]:
        out: dict[str, PairAnalysis] = {}
        pending = list(pairs)
        errors: dict[str, str] | None = None
        deadline, attempts = self._new_budget()
        for _round in range(2):  # the first ask and one re-ask with the errors
            if not pending or self.engine is None:
                break
            ids = [p.pair_id for p in pending]
            holder: dict[str, Any] = {}

            def validate(comp: Completion, ids: list[str] = ids, holder: dict[str, Any] = holder) -> bool:
                holder["parsed"] = parse_compat_batch(comp.text, ids)
                return bool(holder["parsed"].items)

            try:
                res = self.engine.run(
                    MATCH, compat_messages(pending, errors), deadline=deadline, attempts=attempts,
                    json_schema=COMPAT_BATCH_SCHEMA, validate=validate,
                )
            except AIError:
                break
            parsed = holder["parsed"]
            by_id = {p.pair_id: p for p in pending}
            for pid, item in parsed.items.items():
                out[pid] = _to_analysis(pid, item, "llm")
                value = asdict(out[pid])
                self._cache_set(MATCH, res.provider, pair_inputs(by_id[pid]), value)
            if parsed.items:
                self.accounting.record_results(res.provider, len(parsed.items))
            errors = parsed.errors
            pending = [p for p in pending if p.pair_id in parsed.errors]
        self._note_attempts(attempts)
        if pending:
            for pair in pending:
                out[pair.pair_id] = self.fallback.analyze_one(pair)
            self.accounting.record_results("fallback", len(pending))
        return out

    # ------------------------------------------------------------ single requests
    def _single(
        self, request_type: str, messages: list[ChatMessage], parse: Callable[[str], Any], inputs: Any
    ) -> tuple[Any, str] | None:
        if self.engine is None:
            return None
        deadline, attempts = self._new_budget()
        msgs = messages
        for _round in range(2):
            holder: dict[str, Any] = {}

            def validate(comp: Completion, holder: dict[str, Any] = holder) -> bool:
                try:
                    holder["value"] = parse(comp.text)
                except AIError as exc:
                    holder["error"] = str(exc)
                    return False
                return True

            try:
                res = self.engine.run(request_type, msgs, deadline=deadline, attempts=attempts, validate=validate)
            except AIError:
                break
            if "value" in holder:
                self._note_attempts(attempts)
                value = holder["value"].model_dump(mode="json")
                self._cache_set(request_type, res.provider, inputs, value)
                self.accounting.record_results(res.provider)
                return value, res.provider
            msgs = [*messages, reask_message(holder["error"])]
        self._note_attempts(attempts)
        return None

    def analyze_profile(self, data: Mapping[str, Any]) -> ProfileAnalysis:
        """Summary and key traits of one user's questionnaire data (cached 7 days by default)."""
        inputs = sanitize(dict(data))
        hit = self._cache_get(PROFILE, inputs)
        if hit is not None:
            self.accounting.record_results("cache")
            return ProfileAnalysis(hit["summary"], tuple(hit["key_traits"]), "cache")
        got = self._single(PROFILE, profile_messages(data), parse_profile, inputs)
        if got is not None:
            return ProfileAnalysis(got[0]["summary"], tuple(got[0]["key_traits"]), "llm")
        self.accounting.record_results("fallback")
        local = self.fallback.profile(data)
        return ProfileAnalysis(local["summary"], tuple(local["key_traits"]), "fallback")

    def conversation_starters(self, pair: PairContext) -> StarterSuggestions:
        """3-5 conversation starters for one pair (cached 12 hours by default)."""
        inputs = pair_inputs(pair)
        hit = self._cache_get(STARTERS, inputs)
        if hit is not None:
            self.accounting.record_results("cache")
            return StarterSuggestions(pair.pair_id, tuple(hit["conversation_starters"]), "cache")
        got = self._single(STARTERS, starters_messages(pair), parse_starters, inputs)
        if got is not None:
            return StarterSuggestions(pair.pair_id, tuple(got[0]["conversation_starters"]), "llm")
        self.accounting.record_results("fallback")
        return StarterSuggestions(pair.pair_id, self.fallback.analyze_one(pair).conversation_starters, "fallback")

    # ------------------------------------------------------------ reporting
    def start_run(self) -> None:
        """Begin a new run in a long-lived process: counters and the run budget start from zero."""
        self.accounting.reset()
        self.max_attempts_seen = 0

    def metrics_text(self) -> str:
        """Calls, failures, tokens, cost and results per source in Prometheus text format."""
        return self.accounting.metrics_text()

    def summary(self) -> RunSummary:
        """Calls, tokens, cost and results per source so far, with breaker and router counters."""
        refusals = {}
        switches = 0
        if self.engine is not None:
            refusals = {n: p.breaker.refused for n, p in self.engine.providers.items()}
            switches = self.engine.router.switches
        return self.accounting.summary(self.description, breaker_refusals=refusals, router_switches=switches)
