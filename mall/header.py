"""What every page's header and banners show the signed-in user (the balance, a freezing fraud case,
the newest unread notification, the family pool they may spend), and the fraud cases their account
page lists. Templates call these only where they show them (``register`` makes them template globals).

The facts the header needs are read with the user, in the statement that loads them for the session
(``load_user``): one round trip instead of one per fact. They describe the user as the request found
them, so the first write of the request (a flush, or an UPDATE/INSERT/DELETE statement) drops them and
the helpers read afresh from then on: a page rendered after a change shows the change."""
from dataclasses import dataclass
from functools import cache

from flask import Flask, g, has_request_context
from flask_login import current_user
from sqlalchemy import bindparam, event, select
from sqlalchemy.orm import Session

from mall.account import service as accounts
from mall.account.models import Notification, User
from mall.extensions import db
from mall.family import service as family
from mall.fraud import service as fraud
from mall.ledger import service as ledger


@dataclass(frozen=True)
class Facts:
    balance: int | None  # None: no member account (staff, operators, a member who never had one)
    frozen: bool
    unread: int
    newest_unread_id: int | None
    in_family: bool


@cache
def _statements():
    """(the user with the facts, the facts alone) for ``bindparam("user_id")``, built once."""
    columns = (*ledger.member_account_columns(User.id), *accounts.unread_columns(), family.membership_column(User.id))
    user_id = bindparam("user_id")
    return select(User, *columns).where(User.id == user_id), select(*columns).where(User.id == user_id)


def _facts_of(values) -> Facts:
    balance, frozen, unread, newest, in_family = values
    return Facts(None if balance is None else int(balance), bool(frozen), int(unread or 0), newest, bool(in_family))


def load_user(session_id: str):
    """Flask-Login's user loader: the session's user, with the header's facts in the same statement."""
    user, values = accounts.load_session_user(db.session, session_id, _statements()[0])
    if user is not None:
        g.header_facts = _facts_of(values)
    return user


def _facts() -> Facts | None:
    if not current_user.is_authenticated:
        return None
    facts = g.get("header_facts")
    if facts is None:
        values = db.session.execute(_statements()[1], {"user_id": current_user.id}).one()
        facts = g.header_facts = _facts_of(values)
    return facts


def _drop_facts(*_args) -> None:
    if has_request_context():
        g.pop("header_facts", None)
        g.pop("newest_unread", None)
        g.pop("family_pool", None)


def _on_statement(orm_execute_state) -> None:
    if not orm_execute_state.is_select:
        _drop_facts()


def header_balance():
    """The signed-in member's balance for the header (None when there is none to show)."""
    facts = _facts()
    return facts.balance if facts is not None else None


def spending_power(with_pool: bool = False):
    """What the signed-in member can spend on one redemption (None signed out): their balance, or with
    ``with_pool`` the larger of it and what they may redeem from their family pool (a redemption is
    paid from one or the other)."""
    balance = header_balance()
    if balance is None or not with_pool:
        return balance
    return max(balance, family_pool())


def family_pool() -> int:
    """Points of the family pool the signed-in member may redeem from now (0 without one)."""
    facts = _facts()
    if facts is None or not facts.in_family:
        return 0
    if "family_pool" not in g:
        g.family_pool = family.pool_spendable(db.session, current_user)
    return g.family_pool


def frozen_case():
    """The fraud case freezing the signed-in member's spending, for the banner on every page."""
    facts = _facts()
    if facts is None or not facts.frozen:
        return None
    return fraud.freezing_case(db.session, current_user.id)


def fraud_cases():
    """The signed-in member's disclosed fraud cases, newest first (their account page lists them)."""
    return fraud.member_cases(db.session, current_user) if current_user.is_authenticated else []


def banner_notification():
    """The signed-in user's newest unread notification, for the banner on every page."""
    facts = _facts()
    if facts is None or facts.newest_unread_id is None:
        return None
    if "newest_unread" not in g:
        g.newest_unread = db.session.get(Notification, facts.newest_unread_id)
    return g.newest_unread


def unread_count() -> int:
    """How many of the signed-in user's notifications are unread (the count beside the header's bell)."""
    facts = _facts()
    return facts.unread if facts is not None else 0


def register(app: Flask) -> None:
    """Make the helpers template globals; templates call them only where they are shown."""
    app.jinja_env.globals.update(header_balance=header_balance, family_pool=family_pool, frozen_case=frozen_case,
                                 fraud_cases=fraud_cases,
                                 banner_notification=banner_notification, unread_count=unread_count)
    if not event.contains(Session, "after_flush", _drop_facts):
        event.listen(Session, "after_flush", _drop_facts)
        event.listen(Session, "do_orm_execute", _on_statement)
