"""The exception tree: every error the library raises on purpose is a ``PerfectMatchError``.

::

    PerfectMatchError
      ConfigError
      InvalidInputError            bad user or file input (names what and where)
        ImportRowError
      QuestionnaireError
        BankValidationError        (carries every problem found)
        UnknownQuestionError
        InvalidAnswerError
      MatchingError
        IndexNotBuiltError
        BatchLockedError
      AIError
        ProviderError -> ProviderTimeout, ProviderRateLimited
        CircuitOpenError
        AnalysisParseError
      BillingError -> InvalidTransition, WebhookSignatureError, PaymentUnavailable
      StorageError
        NotFound
        DatabaseUnavailable
      AccountError                 (accounts: registration, verification, login)
        InvalidEmailError, WeakPasswordError   (also InvalidInputError)
        EmailTaken, InvalidToken(reason), InvalidCredentials, EmailNotVerified, AccountDisabled
        LoginThrottled(retry_after), InvalidIdToken(reason), AccountLinkRefused, IdentityProviderUnavailable

The CLI prints ``Error: <message>`` for any of these and exits 1; library code never prints.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import ValidationError


class PerfectMatchError(Exception):
    """Base class of every error raised deliberately by perfectmatch."""


class ConfigError(PerfectMatchError):
    """Settings are missing or inconsistent."""


class InvalidInputError(PerfectMatchError, ValueError):
    """Input from a user or a file is invalid; the message names the field, value and place."""


class ImportRowError(InvalidInputError):
    """One row of an imported file cannot be used."""

    def __init__(self, source: str, line: int, message: str) -> None:
        super().__init__(f"{source}, line {line}: {message}")
        self.source = source
        self.line = line


class QuestionnaireError(PerfectMatchError):
    """Base for questionnaire problems."""


class BankValidationError(QuestionnaireError):
    """A question bank is unusable; ``problems`` lists every defect found."""

    def __init__(self, problems: list) -> None:  # list[questionnaire.validation.Problem]
        self.problems = problems
        lines = "; ".join(str(p) for p in problems[:5])
        more = f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(f"question bank has {len(problems)} problem(s): {lines}{more}")


class UnknownQuestionError(QuestionnaireError, KeyError):
    """A question id is not in the bank."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown question"


class InvalidAnswerError(QuestionnaireError, ValueError):
    """An answer does not fit its question (wrong type, unknown option, importance out of range)."""


class MatchingError(PerfectMatchError):
    """Base for matching problems."""


class IndexNotBuiltError(MatchingError):
    """A candidate index was queried before it was built."""


class BatchLockedError(MatchingError):
    """Another batch run holds the lock for this day."""


class AIError(PerfectMatchError):
    """Base for AI-provider problems."""


class ProviderError(AIError):
    """A provider call failed; ``status`` is the HTTP status when there was one."""

    def __init__(self, provider: str, message: str, *, status: int | None = None) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        self.status = status


class ProviderTimeout(ProviderError):
    """A provider call exceeded its timeout."""


class ProviderRateLimited(ProviderError):
    """A provider answered 429; ``retry_after_s`` is its Retry-After hint, if any."""

    def __init__(self, provider: str, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(provider, message, status=429)
        self.retry_after_s = retry_after_s


class CircuitOpenError(AIError):
    """The circuit breaker for a provider is open; the call was not made."""


class AnalysisParseError(AIError):
    """A model answer could not be parsed or validated."""


class BillingError(PerfectMatchError):
    """Base for billing problems."""


class InvalidTransition(BillingError):
    """A subscription state transition that the state machine does not allow."""


class WebhookSignatureError(BillingError):
    """A webhook signature is missing, wrong or outside the tolerance window."""


class PaymentUnavailable(BillingError):
    """The payment provider could not be reached or failed; nothing is known to be charged."""


class StorageError(PerfectMatchError):
    """Base for storage problems."""


class NotFound(StorageError, LookupError):
    """An aggregate with the given key does not exist."""


class DatabaseUnavailable(StorageError):
    """The database cannot be reached or opened (the URL is shown without its password)."""


class ReadOnlyError(StorageError):
    """Read-only mode is on (``PERFECTMATCH_READ_ONLY`` or ``perfectmatch read-only on``): a write was refused."""



class AccountError(PerfectMatchError):
    """Base for account problems: registration, email verification, password and social login."""


class InvalidEmailError(AccountError, InvalidInputError):
    """An email address that cannot be used for an account (the message says why)."""


class WeakPasswordError(AccountError, InvalidInputError):
    """A password that fails the password policy (the message names the rule, never the password)."""


class EmailTaken(AccountError):
    """An account with this (normalized) email address exists already."""


class InvalidToken(AccountError):
    """A verification token that cannot be used; ``reason`` is forged, unknown, expired, used or superseded."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class InvalidCredentials(AccountError):
    """Login failed. Deliberately the same for an unknown email and a wrong password."""


class EmailNotVerified(AccountError):
    """The password was right but the email address is not verified yet (resend the verification email)."""


class AccountDisabled(AccountError):
    """The account is suspended or deleted and cannot log in."""


class LoginThrottled(AccountError):
    """Too many failed logins for this email; ``retry_after`` is when the next attempt is accepted."""

    def __init__(self, retry_after: datetime) -> None:
        super().__init__(f"too many failed logins; try again after {retry_after.isoformat(timespec='seconds')}")
        self.retry_after = retry_after


class InvalidIdToken(AccountError):
    """An identity provider's ID token was refused; ``reason`` says which check failed (signature, issuer ...)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class AccountLinkRefused(AccountError):
    """A social identity whose email the provider has not verified names an existing account: not linked."""


class IdentityProviderUnavailable(AccountError):
    """The identity provider's signing keys (JWKS) could not be fetched."""

def describe_validation_error(exc: ValidationError) -> str:
    """Render a pydantic ``ValidationError`` as one line naming each field and offending value."""
    parts = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err.get("loc", ())) or exc.title
        msg = err.get("msg", "invalid").removeprefix("Value error, ")
        value = err.get("input")
        shown = repr(value) if not isinstance(value, dict) else "{...}"
        if len(shown) > 60:
            shown = shown[:57] + "..."
        parts.append(f"{exc.title}.{loc}: {msg} (got {shown})")
    return "; ".join(parts)
