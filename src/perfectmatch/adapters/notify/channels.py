"""``ChannelNotifier``: one ``Notifier`` that hands a notification to an adapter per channel it has on."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from perfectmatch.models import Notification, UserId
from perfectmatch.ports import Notifier


class ChannelNotifier:
    """Route to ``push`` (e.g. ``FcmNotifier``), ``email`` (``SmtpNotifier``) and ``in_app`` adapters.

    Channels without an adapter are skipped. The first failing adapter's error propagates (so the
    caller retries the whole notification: delivery is at least once per channel).
    """

    def __init__(self, *, push: Notifier | None = None, email: Notifier | None = None,
                 in_app: Notifier | None = None) -> None:
        self.push, self.email, self.in_app = push, email, in_app

    def send(self, note: Notification) -> None:
        for on, adapter in ((note.channels.in_app, self.in_app), (note.channels.push, self.push),
                            (note.channels.email, self.email)):
            if on and adapter is not None:
                adapter.send(note)


def notifier_from_settings(cfg: Any, *, address_of: Callable[[UserId], str | None],
                           tokens_of: Callable[[UserId], Sequence[str]], in_app: Notifier | None = None,
                           fcm_client: Any = None) -> ChannelNotifier:
    """The channels ``config.NotifySettings`` configures: in-app always, email (``SmtpNotifier``) when
    ``smtp_host`` is set, push (``FcmNotifier``) when ``fcm_project_id`` is.

    The FCM bearer token is ``fcm_access_token`` or, re-read at every send so an outside refresher
    (a sidecar, ``gcloud auth print-access-token``) keeps it valid, the content of ``fcm_token_file``.

    Raises
    ------
    ConfigError
        ``fcm_project_id`` is set without a token or token file.
    """
    from perfectmatch.adapters.notify.basic import InAppNotifier

    email = push = None
    if cfg.smtp_host:
        from perfectmatch.adapters.notify.smtp import SmtpNotifier

        password = cfg.smtp_password.get_secret_value() if cfg.smtp_password is not None else None
        email = SmtpNotifier(cfg.smtp_host, cfg.smtp_port, sender=cfg.smtp_from, address_of=address_of,
                             username=cfg.smtp_username, password=password, starttls=cfg.smtp_starttls,
                             timeout_s=cfg.smtp_timeout_s)
    if cfg.fcm_project_id:
        from perfectmatch.adapters.notify.fcm import FcmNotifier
        from perfectmatch.errors import ConfigError

        if cfg.fcm_access_token is None and cfg.fcm_token_file is None:
            raise ConfigError("PERFECTMATCH_NOTIFY__FCM_PROJECT_ID needs PERFECTMATCH_NOTIFY__FCM_ACCESS_TOKEN "
                              "or PERFECTMATCH_NOTIFY__FCM_TOKEN_FILE")
        token, path = cfg.fcm_access_token, cfg.fcm_token_file

        def access_token() -> str:
            if token is not None:
                return str(token.get_secret_value())
            try:
                return path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"cannot read the FCM token file {path}: {exc.strerror}") from exc

        push = FcmNotifier(cfg.fcm_project_id, access_token=access_token, tokens_of=tokens_of,
                           client=fcm_client, base_url=cfg.fcm_base_url)
    return ChannelNotifier(push=push, email=email, in_app=in_app or InAppNotifier())
