"""Identity-provider adapters: JWKS key sources for social login."""
