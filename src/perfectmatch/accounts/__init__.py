"""Accounts: email/password registration with verification, password login with throttling, social login.

Use ``accounts(app)`` for the app's ``AccountService``; its methods are ``register``, ``verify_email``,
``resend_verification``, ``login``, ``social_login`` and ``account``. Errors are the ``AccountError``
subclasses of ``perfectmatch.errors``.
"""

from perfectmatch.accounts.credentials import Hasher, check_password, normalize_email
from perfectmatch.accounts.oidc import IdClaims, OidcProvider, verify_id_token
from perfectmatch.accounts.service import AccountInfo, AccountService, Login, Registration, Verification
from perfectmatch.accounts.throttle import ThrottlePolicy, ThrottleState
from perfectmatch.accounts.tokens import IssuedToken, issue_token, login_key, verify_signature
from perfectmatch.accounts.wiring import accounts, install

__all__ = [
    "AccountInfo",
    "AccountService",
    "Hasher",
    "IdClaims",
    "IssuedToken",
    "Login",
    "OidcProvider",
    "Registration",
    "ThrottlePolicy",
    "ThrottleState",
    "Verification",
    "accounts",
    "check_password",
    "install",
    "issue_token",
    "login_key",
    "normalize_email",
    "verify_id_token",
    "verify_signature",
]
