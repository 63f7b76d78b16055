"""``JwksProvider`` adapters: ``StaticJwks`` (keys given) and ``HttpJwks`` (fetched over HTTPS, cached).

``HttpJwks`` fetches the provider's JWKS document on first use and reuses it for ``cache_s``; a key id
it does not know triggers one early refetch (providers rotate keys), at most once per ``min_refresh_s``
so a flood of tokens with made-up key ids cannot turn into a flood of requests to the provider.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from perfectmatch.errors import IdentityProviderUnavailable
from perfectmatch.ports import Clock


def _by_kid(keys: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(k["kid"]): dict(k) for k in keys if isinstance(k, Mapping) and isinstance(k.get("kid"), str)}


class StaticJwks:
    """Fixed keys: a JWKS document (``{"keys": [...]}``) or a list of JWK dicts."""

    def __init__(self, jwks: Mapping[str, Any] | Iterable[Mapping[str, Any]]) -> None:
        keys = jwks.get("keys", []) if isinstance(jwks, Mapping) else jwks
        self._keys = _by_kid(keys)

    def key(self, kid: str) -> Mapping[str, Any] | None:
        return self._keys.get(kid)


class HttpJwks:
    """The keys published at ``url``, cached for ``cache_s`` seconds of ``clock`` time.

    Raises ``IdentityProviderUnavailable`` (from ``key``) when the document cannot be fetched or read
    and no earlier copy is cached.
    """

    def __init__(
        self,
        url: str,
        clock: Clock,
        *,
        cache_s: float = 3600.0,
        min_refresh_s: float = 60.0,
        timeout_s: float = 5.0,
        client: httpx.Client | None = None,
    ) -> None:
        self.url = url
        self.clock = clock
        self.cache_s = cache_s
        self.min_refresh_s = min_refresh_s
        self._client = client or httpx.Client(timeout=timeout_s, follow_redirects=False)
        self._keys: dict[str, dict[str, Any]] | None = None
        self._expires_at = float("-inf")  # when the cached document is too old to use without refetching
        self._retry_at = float("-inf")  # earliest next fetch (after one, or after a failed one)
        self._error = ""
        self._lock = threading.Lock()
        self.fetches = 0

    def key(self, kid: str) -> Mapping[str, Any] | None:
        with self._lock:
            now = self.clock.now().timestamp()
            stale = self._keys is None or now >= self._expires_at
            if (stale or kid not in (self._keys or {})) and now >= self._retry_at:
                self._fetch(now)
            if self._keys is None:
                raise IdentityProviderUnavailable(f"cannot fetch signing keys from {self.url}: {self._error}")
            return self._keys.get(kid)

    def _fetch(self, now: float) -> None:
        """Fetch the document; on failure keep any keys we have (a provider hiccup) and retry later."""
        self.fetches += 1
        self._retry_at = now + self.min_refresh_s
        try:
            response = self._client.get(self.url, headers={"Accept": "application/json"})
            response.raise_for_status()
            doc = response.json()
            if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
                raise ValueError("not a JWKS document (no 'keys' list)")
        except (httpx.HTTPError, ValueError) as exc:
            self._error = str(exc) or type(exc).__name__
            return
        self._keys = _by_kid(doc["keys"])
        self._expires_at = now + self.cache_s

    def close(self) -> None:
        self._client.close()
