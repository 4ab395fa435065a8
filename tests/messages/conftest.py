"""Real parts for the messages tests: an SMTP server (aiosmtpd) the test runs, a local HTTP server that
receives webhooks, the SMS sandbox in the test's own store, and a World with families and gifts."""
import email
import email.policy
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller

from mall.account.models import User
from mall.db import write
from mall.extensions import db
from mall.family import service as family
from mall.messages.models import MessageProfile
from tests.builders import World
from tests.servers import free_port


class Mailbox:
    """What the SMTP server accepted: parsed messages, in order. ``stall`` holds DATA until released."""

    def __init__(self):
        self.messages = []
        self.stall = threading.Event()
        self.stalled = threading.Event()
        self.stall.set()  # set: no stall
        self.refuse = False

    async def handle_DATA(self, server, session, envelope):
        if not self.stall.is_set():
            self.stalled.set()
            import asyncio

            while not self.stall.is_set():  # the client is waiting for our answer meanwhile
                await asyncio.sleep(0.05)
            return "451 try again later"  # a delivery the client gave up on is not accepted
        if self.refuse:
            return "451 mailbox busy"
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"

    def to(self, address):
        return [m for m in self.messages if m["To"] == address]


@pytest.fixture
def smtp(app):
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_TIMEOUT=5)
    box.port = port
    yield box
    box.stall.set()
    controller.stop()


class Receiver:
    """A merchant's endpoint: records each request; answers with ``statuses`` in turn (then 200)."""

    def __init__(self):
        self.requests = []
        self.statuses = []

    def handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append({"headers": dict(self.headers), "body": body, "json": json.loads(body)})
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        return Handler


@pytest.fixture
def endpoint(app):
    receiver = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), receiver.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/mall"
    app.config.update(WEBHOOK_ALLOW_LOCAL_HTTP=True, WEBHOOK_TIMEOUT_SECONDS=3)
    yield receiver
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def _messages_config(app, tmp_path):
    app.config.update(SMS_SANDBOX_URL=f"sqlite:///{tmp_path / 'sms-sandbox.sqlite3'}", MESSAGES_RETRY_BASE_SECONDS=0,
                      MALL_BASE_URL="http://mall.test")
    yield
    provider = app.extensions.pop("sms_provider", None)
    if provider is not None:
        provider.engine.dispose()


def no_quiet_hours(app, user_id):
    """Turn the member's quiet hours off (they are on by default, 22:00-08:00 Beijing time), keeping the
    rest of their profile: a test of delivery must not depend on the hour it runs at."""
    with app.app_context(), write(db.session):
        profile = db.session.get(MessageProfile, user_id)
        if profile is None:
            profile = MessageProfile(user_id=user_id, quiet_start=22, quiet_end=8)
            db.session.add(profile)
        profile.quiet_hours = False
    return user_id


class People(World):
    """The World, plus confirmed addresses, families and gifts."""

    def confirm(self, user_id, quiet_hours=False):
        """Mark the member's address confirmed (the link's effect), quiet hours off unless asked."""
        with self.app.app_context(), write(db.session):
            user = db.session.get(User, user_id)
            db.session.merge(MessageProfile(user_id=user_id, verified_email=user.email, quiet_hours=quiet_hours,
                                            quiet_start=22, quiet_end=8, verified_at=user.created_at))
        return user_id

    def family_of(self, head, *members):
        with self.app.app_context(), write(db.session):
            family.create_family(db.session, db.session.get(User, head), "The Lins")
        for user_id in members:
            with self.app.app_context(), write(db.session):
                _, token = family.invite(db.session, db.session.get(User, head), self.code(user_id))
            with self.app.app_context(), write(db.session):
                user = db.session.get(User, user_id)
                family.accept(db.session, user, family.invitation_by_token(db.session, user, token))

    def gift(self, sender, recipient, points, note="", token=None, now=None):
        with self.app.app_context(), write(db.session):
            gift = family.gift_points(db.session, db.session.get(User, sender), self.code(recipient), points,
                                      token or f"t{points}{note[:4]}", now=now, note=note)
            return gift.id

    def set_locale(self, user_id, locale):
        with self.app.app_context(), write(db.session):
            db.session.get(User, user_id).locale = locale


@pytest.fixture
def people(app):
    return People(app)


@pytest.fixture
def operator_client(app):
    from tests.builders import make_user, signed_in_client

    make_user(app, "operator@example.com", role="operator")
    return signed_in_client(app, "operator@example.com")
