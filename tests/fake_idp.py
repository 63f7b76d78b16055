"""A fake OpenID Connect provider for tests: real RSA/EC keys generated here, real signed ID tokens,
and a JWKS server on 127.0.0.1 (stdlib ``http.server`` in a thread)."""

from __future__ import annotations

import json
import threading
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

ISSUER = "https://idp.example.test"
AUDIENCE = "perfectmatch-client"
SECRET = "test-secret-0123456789-abcdefghijklmnop"  # PERFECTMATCH_ACCOUNTS__TOKEN_SECRET in tests


class FakeIdP:
    """Signs ID tokens with its own keys (``rsa-1`` RS256, ``ec-1`` ES256) and publishes them as a JWKS."""

    def __init__(self, issuer: str = ISSUER, audience: str = AUDIENCE) -> None:
        self.issuer, self.audience = issuer, audience
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())

    def jwks(self) -> dict[str, Any]:
        r = json.loads(RSAAlgorithm.to_jwk(self.rsa.public_key()))
        e = json.loads(ECAlgorithm.to_jwk(self.ec.public_key()))
        return {
            "keys": [
                {**r, "kid": "rsa-1", "use": "sig", "alg": "RS256"},
                {**e, "kid": "ec-1", "use": "sig", "alg": "ES256"},
            ]
        }

    def public_pem(self) -> bytes:
        return self.rsa.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def claims(self, now: datetime, **over: Any) -> dict[str, Any]:
        t = int(now.timestamp())
        base = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": "subject-1",
            "iat": t,
            "exp": t + 600,
            "email": "ann@example.com",
            "email_verified": True,
        }
        base.update(over)
        return {k: v for k, v in base.items() if v is not None}

    def token(
        self,
        now: datetime,
        *,
        alg: str = "RS256",
        kid: str | None = None,
        key: Any = None,
        headers: dict[str, Any] | None = None,
        **over: Any,
    ) -> str:
        if key is None:
            key = self.ec if alg == "ES256" else self.rsa
        kid = kid if kid is not None else ("ec-1" if alg == "ES256" else "rsa-1")
        return jwt.encode(self.claims(now, **over), key, algorithm=alg, headers={"kid": kid, **(headers or {})})


class JwksServer:
    """Serves ``self.doc`` as JSON at /jwks (status ``self.status``) and counts requests."""

    def __init__(self) -> None:
        self.doc: Any = {"keys": []}
        self.status = 200
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests += 1
                body = json.dumps(server.doc).encode()
                self.send_response(server.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/jwks"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
