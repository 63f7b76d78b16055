"""Operations: health checks, metrics, structured logs, database maintenance, backup and restore.

An edge package (like ``adapters`` and ``cli``): it may use SQLAlchemy, httpx and prometheus-client.

* ``health``       ``check_health(app, deep=False)`` / ``check_settings(...)`` -> ``HealthReport``
* ``metrics``      ``OpsMetrics`` (a Prometheus registry): ``record_batch``, ``watch_analyzer``, ``text``
* ``logs``         ``configure(level, json=True)``, ``run_context(run_id)``, ``RedactingFilter``
* ``maintenance``  ``maintain(app)`` -> ``MaintenanceReport``
* ``backup``       ``export_snapshot(engine, out)``, ``verify_snapshot(path)``, ``restore_snapshot(path, engine)``
* ``audit``        ``audit(app_or_conn, kind, user_id, detail)``, ``audit_events(...)``: security events
* ``containment``  ``suspend_user(app, id, reason=)``, ``reinstate_user(app, id)``
* ``support``      ``show_user(app, id)``, ``export_user(app, id, out)``, ``erase_user(app, id)``
* ``tracing``      optional OpenTelemetry span per batch stage (``PERFECTMATCH_TRACING``, extra ``otel``)

Read-only mode lives at the storage edge (``adapters.storage.readonly``): ``perfectmatch read-only on|off``.
"""

from perfectmatch.ops.health import Check, HealthReport, check_health, check_settings

__all__ = ["Check", "HealthReport", "check_health", "check_settings"]
