"""Operations: health checks, metrics, structured logs, database maintenance, backup and restore.

An edge package (like ``adapters`` and ``cli``): it may use SQLAlchemy, httpx and prometheus-client.
"""

from perfectmatch.ops.health import Check, HealthReport, check_health, check_settings

__all__ = ["Check", "HealthReport", "check_health", "check_settings"]
