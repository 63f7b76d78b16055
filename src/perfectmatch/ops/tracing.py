"""Optional OpenTelemetry tracing of the daily batch: one span per run, one child span per stage.

On when ``PERFECTMATCH_TRACING=true`` and ``opentelemetry-api`` is importable (extra ``otel``);
otherwise every helper here is a no-op. Spans are named ``perfectmatch.batch`` and
``perfectmatch.batch.<stage>`` and carry the run id (the run's lock owner), the day, the mode, the
stage and the stage's recorded counts. Where spans go is the application's choice: it configures a
``TracerProvider`` and exporter as usual (the OTLP exporter, say); a tracer put in
``app.extras["tracer"]`` is used instead of the global one (tests use the SDK's in-memory exporter).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

TRACER_NAME = "perfectmatch"


def batch_tracer(app: Any) -> Any | None:
    """The tracer for ``app``'s batch runs, or ``None`` when tracing is off or the API is missing."""
    if not getattr(app.settings, "tracing", False):
        return None
    if "tracer" in app.extras:
        return app.extras["tracer"]
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    return trace.get_tracer(TRACER_NAME)


def _attributes(info: dict[str, Any] | None) -> dict[str, Any]:
    """Scalar counts of a stage's checkpoint as span attributes (nested values are left out)."""
    return {f"perfectmatch.batch.{k}": v for k, v in (info or {}).items() if isinstance(v, bool | int | float | str)}


@contextmanager
def span(tracer: Any | None, name: str, **attributes: Any) -> Iterator[Any]:
    """A current span named ``name`` with ``attributes`` (``None`` values dropped); nothing without a tracer."""
    if tracer is None:
        yield None
        return
    attrs = {k: v for k, v in attributes.items() if v is not None}
    with tracer.start_as_current_span(name, attributes=attrs) as current:
        yield current


def record(current: Any | None, info: dict[str, Any] | None, *, skipped: bool = False) -> None:
    """Attach a stage's counts to its span (``skipped``: done by an earlier attempt, nothing redone)."""
    if current is None:
        return
    current.set_attributes(_attributes(info))
    current.set_attribute("perfectmatch.batch.skipped", skipped)
