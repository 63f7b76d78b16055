"""``perfectmatch billing ...`` on SQLite, charging through localstripe with the official client."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import stripe  # part of the test extra: fail, never skip, when it is missing

from perfectmatch.adapters.storage.billing import SqlAlchemyBillingStore
from perfectmatch.adapters.storage.engine import make_engine, upgrade
from perfectmatch.adapters.storage.uow import SqlAlchemyUnitOfWork
from perfectmatch.billing.webhooks import signature_header
from perfectmatch.cli import main
from perfectmatch.models import User


def _db(tmp_path: Path, users: int) -> str:
    url = f"sqlite:///{tmp_path / 'pm.db'}"
    engine = make_engine(url)
    upgrade(engine)
    now = datetime.now(UTC)
    with SqlAlchemyUnitOfWork(engine) as uow:
        for _ in range(users):
            uow.users.add(User(created_at=now, last_active_at=now))
        uow.commit()
    engine.dispose()
    return url


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def _pm(url: str, number: str) -> str:
    client = stripe.StripeClient("sk_test_local", base_addresses={"api": url}, max_network_retries=0)
    return str(client.v1.payment_methods.create(params={"type": "card", "card": {
        "number": number, "exp_month": 12, "exp_year": 2030, "cvc": "123"}}).id)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, localstripe_url: str, tmp_path: Path) -> str:
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_local")
    monkeypatch.setenv("STRIPE_API_BASE", localstripe_url)
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_old,whsec_new")
    monkeypatch.setenv("PERFECTMATCH_CACHE__BACKEND", "none")
    monkeypatch.chdir(tmp_path)
    return localstripe_url


def test_plans_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["--json", "billing", "plans"], capsys)
    plans = {p["id"]: p for p in json.loads(out)}
    assert code == 0 and plans["premium_monthly"]["price_minor"] == 1999
    assert plans["premium_annual"]["price_minor"] == 19999 and plans["free"]["price_minor"] == 0


def test_subscribe_status_cancel_and_renewals(env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = _db(tmp_path, 2)
    code, out, err = _run(["--db", db, "--json", "billing", "subscribe", "1", "premium_monthly",
                           "--payment-method", _pm(env, "4242424242424242")], capsys)
    assert code == 0, err
    sub = json.loads(out)
    assert sub["state"] == "active" and sub["card"] == "visa ****4242"
    code, out, _ = _run(["--db", db, "--json", "billing", "status", "1"], capsys)
    status = json.loads(out)
    assert status["tier"] == "premium" and status["daily_match_cap"] == 50 and "who_liked_me" in status["features"]
    code, out, _ = _run(["--db", db, "--json", "billing", "cancel", "1"], capsys)
    assert json.loads(out)["state"] == "canceling"
    code, out, _ = _run(["--db", db, "--json", "billing", "run-renewals", "--now", "2099-01-01T00:00:00"], capsys)
    report = json.loads(out)
    assert code == 0 and report["canceled"] == 1 and report["renewed"] == 0 and report["tiers_changed"] == 1
    code, out, _ = _run(["--db", db, "--json", "billing", "status", "1"], capsys)
    assert json.loads(out)["tier"] == "free"
    code, out, _ = _run(["--db", db, "--json", "notifications", "1"], capsys)
    notes = json.loads(out)["notifications"]
    assert code == 0 and sorted(n["content"]["state"] for n in notes if n["type"] == "subscription") == [
        "active", "canceled", "canceling"]
    # a refused card: one error line, exit 1, the failed attempt kept in the ledger
    code, out, err = _run(["--db", db, "billing", "subscribe", "2", "premium_annual",
                           "--payment-method", _pm(env, "4000000000000341")], capsys)
    assert code == 1 and err.strip() == "Error: user 2: payment refused (card_declined); nothing was started"
    engine = make_engine(db)
    with SqlAlchemyUnitOfWork(engine) as uow:
        store = SqlAlchemyBillingStore(uow.connection)
        assert [(p.user_id, p.ok) for p in store.payments()] == [(1, True), (2, False)]
    engine.dispose()


def test_webhook_replay_and_rejection(env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = _db(tmp_path, 1)
    now = int(time.time())
    body = json.dumps({"id": "evt_cli", "type": "customer.subscription.created", "created": now, "data": {"object": {
        "id": "sub_cli", "customer": "cus_cli", "status": "incomplete", "metadata": {"user_id": "1"}}}}).encode()
    path = tmp_path / "event.json"
    path.write_bytes(body)
    header = signature_header(body, ["whsec_new"], now)
    code, out, err = _run(["--db", db, "--json", "billing", "webhook", "--payload", str(path), "--signature", header],
                          capsys)
    assert code == 0 and json.loads(out) == {"outcome": "applied"}, err
    code, out, _ = _run(["--db", db, "--json", "billing", "webhook", "--payload", str(path), "--signature", header],
                        capsys)
    assert json.loads(out) == {"outcome": "duplicate"}
    path.write_bytes(body.replace(b"incomplete", b"active"))
    code, _, err = _run(["--db", db, "billing", "webhook", "--payload", str(path), "--signature", header], capsys)
    assert code == 1 and err.startswith("Error: no v1 signature matches")
    engine = make_engine(db)
    with SqlAlchemyUnitOfWork(engine) as uow:
        log = SqlAlchemyBillingStore(uow.connection).webhook_log()
        assert [r.outcome for r in log] == ["applied", "duplicate", "rejected"]
    engine.dispose()
