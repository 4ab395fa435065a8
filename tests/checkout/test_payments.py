"""The payment sandbox behaves like the outside party it stands for: its payments live in its own store,
shared by every process and kept across restarts; and authorisations a crash left open are reconciled."""
import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, select

from mall.api import service as api_service
from mall.checkout import service
from mall.checkout.models import Order, Payment
from mall.checkout.payments import PaymentDeclined, SandboxGateway, gateway, sandbox_payment
from mall.db import write
from mall.edge import run
from mall.extensions import db
from mall.coalition.models import Merchant
from mall.models import utcnow
from tests.builders import checkout_as, create_listing, make_merchant, race
from tests.conftest import PG_URL
from tests import servers
from tests.servers import workers_seen

ROOT = Path(__file__).resolve().parents[2]
LR = service.LineRequest

CHECKOUT = """
import sys
from mall import create_app
from mall.account.models import User
from mall.checkout import orchestrator, service
from mall.extensions import db
member_id, listing_id, token = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
app = create_app()
with app.app_context():
    orchestrator.checkout(db.session, db.session.get(User, member_id), [service.LineRequest(listing_id, option="mix")],
                          service.Delivery(name="Lin", phone="13800138000", address="Shanghai"), token, "tok_approve")
"""

CANCEL = """
import sys
from mall import create_app
from mall.checkout import service
from mall.checkout.models import Order
from mall.db import write
from mall.extensions import db
app = create_app()
with app.app_context(), write(db.session):
    service.cancel(db.session, db.session.get(Order, int(sys.argv[1])), "merchant", "out of stock")
"""


def env_for(app, database_url, **extra):
    """The test app's database and payment sandbox, for another process of the mall."""
    return {**os.environ, "DATABASE_URL": database_url, "PAYMENT_SANDBOX_URL": app.config["PAYMENT_SANDBOX_URL"],
            "MALL_ENV": "development", **extra}


def payment_of(app, order_id):
    with app.app_context():
        payment = db.session.get(Payment, db.session.get(Order, order_id).payment_id)
        return payment.status, gateway().payment(payment.gateway_ref)


@pytest.fixture
def mix(world):
    return world.listing(points_price=None, mix_points=1000, cash_fen=990, stock=10)


def test_the_sandbox_keeps_its_payments_in_its_own_store(tmp_path):
    url = f"sqlite:///{tmp_path / 'gateway.sqlite3'}"
    first = SandboxGateway(url)
    ref = first.authorise(1500, "tok_approve", "checkout:1:a")
    assert first.authorise(1500, "tok_approve", "checkout:1:a") == ref  # idempotent by key
    first.capture(ref)
    first.dispose()
    again = SandboxGateway(url)  # a restart, or another worker
    assert again.authorise(1500, "tok_approve", "checkout:1:a") == ref
    again.refund(ref, 500)
    with pytest.raises(PaymentDeclined, match="larger than the payment"):
        again.refund(ref, 1001)
    again.refund(ref)
    assert {k: again.payment(ref)[k] for k in ("status", "amount_fen", "refunded_fen")} == {
        "status": "refunded", "amount_fen": 1500, "refunded_fen": 1500}
    with pytest.raises(PaymentDeclined, match="Only a captured payment"):
        again.refund(ref, 1)
    with pytest.raises(PaymentDeclined, match="Unknown payment reference"):
        again.capture("sbx_unknown")
    again.dispose()


def test_gateway_refusals_speak_chinese_by_default(app):
    with app.test_request_context(headers={"Accept-Language": "zh-CN"}), pytest.raises(PaymentDeclined) as refused:
        gateway().authorise(100, "tok_decline", "checkout:1:declined")
    assert str(refused.value) == "银行卡被拒绝。"


@pytest.fixture(params=["sqlite"] + (["postgresql"] if PG_URL else []))
def sandbox_url(request, tmp_path):
    """A store for the sandbox of its own: a SQLite file, and in the PostgreSQL run a table in its database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'gateway.sqlite3'}"
        return
    yield PG_URL
    engine = create_engine(PG_URL)
    sandbox_payment.drop(engine, checkfirst=True)
    engine.dispose()


def test_concurrent_workers_move_a_payment_once(sandbox_url):
    gateways = [SandboxGateway(sandbox_url) for _ in range(6)]
    # six workers, one idempotency key: one authorisation
    refs = race(lambda gw: gw.authorise(600, "tok_approve", "k"), gateways, values=True)
    assert len(refs) == 6 and len(set(refs)) == 1
    ref = refs[0]
    gateways[0].capture(ref)
    outcomes = []

    def refund_100(gw):
        try:
            gw.refund(ref, 100)
            outcomes.append("ok")
        except PaymentDeclined:
            outcomes.append("refused")

    race(refund_100, gateways + gateways)
    assert sorted(outcomes) == ["ok"] * 6 + ["refused"] * 6  # twelve tries, 600 fen: exactly six refunds
    assert gateways[0].payment(ref)["status"] == "refunded"
    for gw in gateways:
        gw.dispose()


def test_a_payment_captured_here_is_refunded_by_another_process(app, world, database_url, mix):
    member = world.member(points=5000)
    [order_id], _ = checkout_as(app, member, [LR(mix, option="mix")])
    assert payment_of(app, order_id)[1]["status"] == "captured"
    done = subprocess.run([sys.executable, "-c", CANCEL, str(order_id)], cwd=ROOT, env=env_for(app, database_url),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    status, held = payment_of(app, order_id)
    assert (status, held["status"], held["refunded_fen"]) == ("refunded", "refunded", 990)
    assert world.balance(member) == 5000 + 100  # points back, plus the merchant cancellation's compensation


def test_cancelling_each_merchants_order_refunds_all_the_cash(app, world, mix):
    member = world.member(points=5000)
    other = create_listing(app, make_merchant(app, "other"), points_price=None, mix_points=500, cash_fen=300, stock=10)
    order_ids, _ = checkout_as(app, member, [LR(mix, option="mix"), LR(other, option="mix")])
    assert len(order_ids) == 2 and payment_of(app, order_ids[0])[1]["amount_fen"] == 1290
    for order_id, refunded in zip(order_ids, (990, 1290)):
        with app.app_context(), write(db.session):
            service.cancel(db.session, db.session.get(Order, order_id), "merchant", "closed")
        assert payment_of(app, order_id)[1]["refunded_fen"] == refunded
    assert payment_of(app, order_ids[0])[0] == "refunded"


def kill_checkout(app, database_url, member, listing, token, point, reached):
    """Run a checkout in its own process, paused at fault ``point``; SIGKILL it once ``reached()`` holds."""
    process = subprocess.Popen([sys.executable, "-c", CHECKOUT, str(member), str(listing), token], cwd=ROOT,
                               env=env_for(app, database_url, MALL_FAULT_POINT=point, MALL_FAULT_SECONDS="300"),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            with app.app_context():
                if reached(token):
                    break
            assert process.poll() is None, f"the checkout ended before {point}: {process.stderr.read()}"
            assert time.monotonic() < deadline, f"the checkout did not reach {point}"
            time.sleep(0.1)
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def payment_by_token(token):
    return db.session.scalar(select(Payment).where(Payment.checkout_token == token))


def order_committed(token):
    return db.session.scalar(select(Order.id).where(Order.checkout_token == token)) is not None


def payment_authorised(token):
    payment = payment_by_token(token)
    return payment is not None and payment.status == "authorised"


def test_killed_after_the_order_committed_reconcile_captures(app, world, database_url, mix, runner):
    member = world.member(points=5000)
    kill_checkout(app, database_url, member, mix, "killed-after-commit", "after_commit", order_committed)
    with app.app_context():
        payment = payment_by_token("killed-after-commit")
        order = db.session.scalar(select(Order).where(Order.payment_id == payment.id))
        order_id, ref = order.id, payment.gateway_ref
        assert (order.status, payment.status) == ("placed", "authorised")
        assert gateway().payment(ref)["status"] == "authorised"
        # Within the grace period a checkout may still be on its way: nothing is touched.
        assert run(service.reconcile_payments, db.session, 15) == {"captured": 0, "voided": 0}
        assert gateway().payment(ref)["status"] == "authorised"
    result = runner.invoke(args=["payments", "reconcile", "--grace-minutes", "0"])
    assert result.exit_code == 0, result.output
    assert "captured 1, voided 0" in result.output
    status, held = payment_of(app, order_id)
    assert (status, held["status"]) == ("captured", "captured")
    again = runner.invoke(args=["payments", "reconcile", "--grace-minutes", "0"])
    assert "captured 0, voided 0" in again.output
    assert world.balance(member) == 4000
    with app.app_context(), write(db.session):  # the order is whole: the merchant can cancel and refund it
        service.cancel(db.session, db.session.get(Order, order_id), "merchant", "out of stock")
    assert payment_of(app, order_id)[0] == "refunded"
    assert payment_of(app, order_id)[1]["refunded_fen"] == 990
    world.verify()


def test_killed_before_the_order_was_placed_reconcile_voids(app, world, database_url, mix):
    member = world.member(points=5000)
    kill_checkout(app, database_url, member, mix, "killed-before-place", "after_authorise", payment_authorised)
    with app.app_context():
        assert not order_committed("killed-before-place")
        ref = payment_by_token("killed-before-place").gateway_ref
        assert gateway().payment(ref)["status"] == "authorised"
        later = utcnow() + timedelta(minutes=16)  # the default grace period has passed
        assert run(service.reconcile_payments, db.session, now=later) == {"captured": 0, "voided": 1}
        assert payment_by_token("killed-before-place").status == "voided"
        assert gateway().payment(ref)["status"] == "voided"
        assert run(service.reconcile_payments, db.session, now=later) == {"captured": 0, "voided": 0}
        assert db.session.get(Payment, payment_by_token("killed-before-place").id).status == "voided"
    assert world.balance(member) == 5000


def test_reconcile_voids_an_authorisation_the_mall_never_recorded(app, world):
    with app.app_context():
        ref = gateway().authorise(990, "tok_approve", "checkout:9:lost-answer")  # the worker died awaiting the answer
        later = utcnow() + timedelta(minutes=16)
        assert run(service.reconcile_payments, db.session, now=later) == {"captured": 0, "voided": 1}
        assert gateway().payment(ref)["status"] == "voided"


def test_reconcile_records_a_capture_the_crashed_worker_did_not(app, world, mix):
    member = world.member(points=5000)
    [order_id], _ = checkout_as(app, member, [LR(mix, option="mix")])
    with app.app_context(), write(db.session):  # as if the worker died between the capture and recording it
        db.session.get(Payment, db.session.get(Order, order_id).payment_id).status = "authorised"
    with app.app_context():
        later = utcnow() + timedelta(minutes=16)
        assert run(service.reconcile_payments, db.session, now=later) == {"captured": 0, "voided": 0}
    assert payment_of(app, order_id)[0] == "captured"


@pytest.fixture
def gunicorn_workers(app, database_url, tmp_path):
    """Two gunicorn workers over the test database and the test sandbox; yields (base URL, access log)."""
    with servers.gunicorn(tmp_path, env_for(app, database_url, SECRET_KEY="payments-test-secret-0123456789")) as served:
        yield served


def test_merchant_cancels_points_plus_cash_orders_on_any_worker(app, world, mix, gunicorn_workers):
    base, log = gunicorn_workers
    member = world.member(points=10000)
    order_ids = [checkout_as(app, member, [LR(mix, option="mix")])[0][0] for _ in range(6)]
    with app.app_context(), write(db.session):
        _, key = api_service.create_key(db.session, db.session.get(Merchant, world.merchant_id))
    statuses = []

    def cancel(order_id):
        response = requests.post(f"{base}/api/v1/orders/{order_id}/cancel", data=json.dumps({"reason": "closed"}),
                                 headers={"Authorization": f"Bearer {key}", "Idempotency-Key": f"cancel-{order_id}",
                                          "Content-Type": "application/json", "Connection": "close"}, timeout=60)
        statuses.append((order_id, response.status_code, response.text[:200]))

    race(cancel, order_ids)
    assert [s for _, s, _ in statuses] == [200] * 6, (statuses, workers_seen(log, "POST"))
    for order_id in order_ids:
        status, held = payment_of(app, order_id)
        assert (status, held["status"], held["refunded_fen"]) == ("refunded", "refunded", 990)
    assert world.balance(member) == 10000 + 6 * 100
    world.verify()
