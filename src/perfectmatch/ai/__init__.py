"""AI layer: compatibility and profile analysis through OpenAI-compatible providers, with fallback.

``build_analyzer(settings.ai, cache=..., clock=...)`` is the entry point bootstrap uses; it returns a
``ResilientAnalyzer`` (the ``ports.CompatibilityAnalyzer``) whose ``description`` names the
providers in use and whose ``summary()`` reports calls, tokens, cost and results per source.
"""

from perfectmatch.ai.accounting import Accounting, Price, RunSummary
from perfectmatch.ai.analysis import ProfileAnalysis, ResilientAnalyzer, StarterSuggestions
from perfectmatch.ai.content import split_content
from perfectmatch.ai.factory import ProviderPlan, build_analyzer, describe_ai, plan_providers
from perfectmatch.ai.fallback import LocalAnalyzer
from perfectmatch.ai.queue import (
    AnalysisQueue,
    DrainReport,
    InMemoryAnalysisQueue,
    analyze_profile_or_enqueue,
    drain_queue,
)
from perfectmatch.ai.resilience import CircuitBreaker, RetryPolicy
from perfectmatch.ai.routing import FailureRateRouter

__all__ = [
    "Accounting",
    "AnalysisQueue",
    "CircuitBreaker",
    "DrainReport",
    "FailureRateRouter",
    "InMemoryAnalysisQueue",
    "LocalAnalyzer",
    "Price",
    "ProfileAnalysis",
    "ProviderPlan",
    "ResilientAnalyzer",
    "RetryPolicy",
    "RunSummary",
    "StarterSuggestions",
    "analyze_profile_or_enqueue",
    "build_analyzer",
    "describe_ai",
    "drain_queue",
    "plan_providers",
    "split_content",
]
