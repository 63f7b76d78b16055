"""The composition root: ``build_app(settings)`` wires adapters to ports and returns an ``App``.

Only this module and the CLI read ``Settings``. Anything can be overridden for tests or embedding
(``build_app(settings, clock=FakeClock(), cache=MemoryCache())``); nothing is built at import time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import Engine

from perfectmatch.config import CacheSettings, Settings
from perfectmatch.ports import Cache, Clock, CompatibilityAnalyzer, Embedder, Notifier, PaymentGateway, UnitOfWork

if TYPE_CHECKING:
    from perfectmatch.matching.vectors import VectorSpec
    from perfectmatch.ports import BlobStore, FaceDetector


@dataclass
class App:
    """Everything a command or a backend needs, wired once."""

    settings: Settings
    engine: Engine
    clock: Clock
    cache: Cache | None
    rng: np.random.Generator
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def uow(self) -> UnitOfWork:
        """A fresh unit of work: ``with app.uow as uow: ...; uow.commit()``."""
        from perfectmatch.adapters.storage.uow import SqlAlchemyUnitOfWork

        return SqlAlchemyUnitOfWork(self.engine)  # type: ignore[return-value]

    @cached_property
    def embedder(self) -> Embedder:
        """The text embedder (offline hashing by default, OpenAI with ``PERFECTMATCH_EMBEDDER=openai``)."""
        if "embedder" in self.extras:
            return self.extras["embedder"]  # type: ignore[no-any-return]
        if self.settings.embedder == "openai":
            from perfectmatch.adapters.embed.openai import OpenAIEmbedder
            from perfectmatch.adapters.llm.openai_compat import OpenAICompatClient
            from perfectmatch.ai import plan_providers
            from perfectmatch.errors import ConfigError

            plan = plan_providers(self.settings.ai)
            spec = plan.primary if plan.primary is not None and plan.primary.name == "openai" else None
            if spec is None:
                raise ConfigError("PERFECTMATCH_EMBEDDER=openai needs OPENAI_API_KEY")
            client = OpenAICompatClient(api_key=spec.api_key, model=spec.model, base_url=spec.base_url)
            return OpenAIEmbedder(client, model=self.settings.ai.openai_embedding_model)
        from perfectmatch.adapters.embed.hashing import HashingEmbedder

        return HashingEmbedder()

    @cached_property
    def vector_spec(self) -> VectorSpec:
        """How profile vectors are built: the default bank's feature layout and the embedder."""
        from perfectmatch.matching.vectors import VectorSpec
        from perfectmatch.questionnaire import default_bank
        from perfectmatch.questionnaire.encoding import FeatureLayout

        block_dim = self.settings.matching.vector_block_dim or None
        return VectorSpec(FeatureLayout.from_bank(default_bank()), self.embedder, block_dim=block_dim)

    @cached_property
    def analyzer(self) -> CompatibilityAnalyzer:
        """The AI port: OpenAI/DeepSeek when keys are set, else the local fallback (``ai.build_analyzer``)."""
        if "analyzer" in self.extras:
            return self.extras["analyzer"]  # type: ignore[no-any-return]
        from perfectmatch.adapters.llm import client_for
        from perfectmatch.ai import build_analyzer

        return build_analyzer(self.settings.ai, cache=self.cache, clock=self.clock, seed=self.settings.seed,
                              make_client=client_for)

    @property
    def ai_uses_provider(self) -> bool:
        """Whether the analyzer calls a remote model (so questionnaire data must be loaded for it)."""
        if "analyzer" in self.extras:
            return bool(getattr(self.extras["analyzer"], "uses_provider", True))
        from perfectmatch.ai import plan_providers

        return plan_providers(self.settings.ai).primary is not None

    @cached_property
    def entitlements(self) -> Any:
        """The one feature-access check (``billing.entitlements.EntitlementCheck``), cached in
        ``app.cache`` and invalidated by billing the moment a subscription changes. Users with no
        billing history (imported or seeded) keep the tier stored on their account."""
        if "entitlements" in self.extras:
            return self.extras["entitlements"]
        from perfectmatch.adapters.storage.billing import SqlAlchemyBillingStore
        from perfectmatch.billing.entitlements import EntitlementCheck

        def load(user_id: int) -> Any:
            with self.engine.connect() as conn:
                return SqlAlchemyBillingStore(conn).account(user_id)

        def stored_tier(user_id: int) -> Any:
            with self.uow as uow:
                return uow.users.get(user_id).tier

        cfg = self.settings.matching
        return EntitlementCheck(load, self.clock, self.cache, free_cap=cfg.free_daily_cap,
                                premium_cap=cfg.premium_daily_cap, stored_tier=stored_tier)

    @cached_property
    def analysis_queue(self) -> Any:
        """Durable queue of profile analyses requested while the AI was unavailable."""
        if "analysis_queue" in self.extras:
            return self.extras["analysis_queue"]
        from perfectmatch.adapters.storage.queue import SqlAnalysisQueue

        return SqlAnalysisQueue(self.engine, self.clock)

    @cached_property
    def notifier(self) -> Notifier:
        """Every configured channel (``PERFECTMATCH_NOTIFY__*``): in-app always, email with an SMTP host,
        push with an FCM project (device tokens from the ``push_tokens`` extra: ``user_id -> [token]``)."""
        if "notifier" in self.extras:
            return self.extras["notifier"]  # type: ignore[no-any-return]
        from perfectmatch.adapters.notify.channels import notifier_from_settings

        def address_of(user_id: int) -> str | None:
            with self.uow as uow:
                user = uow.users.find(user_id)
            return None if user is None else user.email

        tokens_of = self.extras.get("push_tokens") or (lambda user_id: ())
        return notifier_from_settings(self.settings.notify, address_of=address_of, tokens_of=tokens_of)

    @property
    def notification_service(self) -> Any:
        """The ``social.notify.NotificationService`` over ``notifier`` (preferences, quiet hours, limits);
        the ``notification_service`` extra replaces it."""
        if "notification_service" in self.extras:
            return self.extras["notification_service"]
        from perfectmatch.social.wiring import services

        return services(self).notifications

    @cached_property
    def payment_gateway(self) -> PaymentGateway:
        """Stripe (``STRIPE_API_KEY``, optional ``STRIPE_API_BASE``); a ``ConfigError`` without a key."""
        if "payment_gateway" in self.extras:
            return self.extras["payment_gateway"]  # type: ignore[no-any-return]
        from perfectmatch.adapters.payments.stripe import StripeGateway

        return StripeGateway.from_env()

    @property
    def read_only(self) -> Any:
        """The engine's read-only guard (``adapters.storage.readonly``): ``app.read_only.on``, ``.state``."""
        from perfectmatch.adapters.storage.readonly import guard_of, install

        return guard_of(self.engine) or install(self.engine, forced=self.settings.read_only,
                                                check_s=self.settings.read_only_check_s)

    @cached_property
    def blob_store(self) -> BlobStore:
        """Where photo bytes live: ``LocalBlobStore`` under ``PERFECTMATCH_PHOTOS__BLOB_DIR`` by default."""
        if "blob_store" in self.extras:
            return self.extras["blob_store"]  # type: ignore[no-any-return]
        from perfectmatch.adapters.blobs import LocalBlobStore

        return LocalBlobStore(self.settings.photos.blob_dir)

    @cached_property
    def face_detector(self) -> FaceDetector:
        """The photo face check: OpenCV's shipped Haar cascade, offline (needs ``perfectmatch[photos]``)."""
        if "face_detector" in self.extras:
            return self.extras["face_detector"]  # type: ignore[no-any-return]
        from perfectmatch.adapters.faces import HaarFaceDetector

        return HaarFaceDetector(min_face_ratio=self.settings.photos.face_min_ratio)

    def close(self) -> None:
        self.engine.dispose()
        close = getattr(self.cache, "close", None)
        if close is not None:
            close()


def make_cache(cfg: CacheSettings, clock: Clock) -> Cache | None:
    """The configured cache adapter (diskcache by default, Redis, or none)."""
    if cfg.backend == "none":
        return None
    if cfg.backend == "redis":
        from perfectmatch.adapters.cache.redis import RedisCache

        return RedisCache(cfg.redis_url, namespace=cfg.namespace)
    from perfectmatch.adapters.cache.disk import DiskCache

    return DiskCache(cfg.dir, namespace=cfg.namespace)


def build_app(settings: Settings | None = None, **overrides: Any) -> App:
    """Build the application from ``settings`` (default: environment), migrating the database.

    Parameters
    ----------
    settings
        Configuration; ``Settings()`` reads ``PERFECTMATCH_*`` variables.
    **overrides
        Replace a wired part: ``engine``, ``clock``, ``cache``, ``rng``, ``analyzer``, ``embedder``,
        ``notifier``, ``blob_store`` or ``face_detector`` (the last five are otherwise built on first use).

    Raises
    ------
    ConfigError, DatabaseUnavailable
        The database URL is invalid or unreachable.
    """
    from perfectmatch.adapters.clock import SystemClock
    from perfectmatch.adapters.storage.engine import make_engine, upgrade
    from perfectmatch.adapters.storage.readonly import ReadOnlyAwareCache
    from perfectmatch.adapters.storage.readonly import install as install_read_only

    settings = settings or Settings()
    clock = overrides.pop("clock", None) or SystemClock()
    engine = overrides.pop("engine", None) or make_engine(settings.db_url)
    guard = install_read_only(engine, forced=settings.read_only, check_s=settings.read_only_check_s)
    if settings.auto_migrate:
        upgrade(engine)
    cache = overrides.pop("cache") if "cache" in overrides else make_cache(settings.cache, clock)
    if cache is not None:  # cache writes are skipped while read-only mode is on
        cache = ReadOnlyAwareCache(cache, guard)
    rng = overrides.pop("rng", None) or np.random.default_rng(settings.seed)
    wired = ("analyzer", "embedder", "notifier", "analysis_queue", "payment_gateway", "entitlements",
             "blob_store", "face_detector", "notification_service", "push_tokens")
    extras = {k: overrides.pop(k) for k in wired if k in overrides}
    if overrides:
        raise TypeError(f"unknown overrides: {sorted(overrides)}")
    return App(settings=settings, engine=engine, clock=clock, cache=cache, rng=rng, extras=extras)
