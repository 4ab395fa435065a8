"""What every page's header and banners show the signed-in user (the balance, a freezing fraud case,
the newest unread notification), and the fraud cases their account page lists. Templates call these
only where they show them (``register`` makes them template globals)."""
from flask import Flask, g
from flask_login import current_user

from mall.account import service as accounts
from mall.extensions import db
from mall.family import service as family
from mall.fraud import service as fraud
from mall.ledger import service as ledger


def member_account():
    """The signed-in user's member account, read once per request (one indexed lookup): the header
    shows its balance, and its frozen flag decides whether the fraud-case banner needs a query."""
    if not current_user.is_authenticated:
        return None
    if "member_account" not in g:
        g.member_account = ledger.find_account(db.session, "member", current_user.id)
    return g.member_account


def header_balance():
    """The signed-in member's balance for the header (None when there is none to show)."""
    account = member_account()
    return account.balance if account is not None else None


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
    if not current_user.is_authenticated:
        return 0
    if "family_pool" not in g:
        g.family_pool = family.pool_spendable(db.session, current_user)
    return g.family_pool


def frozen_case():
    """The fraud case freezing the signed-in member's spending, for the banner on every page."""
    account = member_account()
    if account is None or not account.frozen:
        return None
    return fraud.freezing_case(db.session, current_user.id)


def fraud_cases():
    """The signed-in member's disclosed fraud cases, newest first (their account page lists them)."""
    return fraud.member_cases(db.session, current_user) if current_user.is_authenticated else []


def banner_notification():
    """The signed-in user's newest unread notification, for the banner on every page."""
    return accounts.unread_banner(db.session, current_user)


def unread_count() -> int:
    """How many of the signed-in user's notifications are unread (the count beside the header's bell)."""
    if not current_user.is_authenticated:
        return 0
    if "unread_count" not in g:
        g.unread_count = accounts.unread_count(db.session, current_user)
    return g.unread_count


def register(app: Flask) -> None:
    """Make the helpers template globals; templates call them only where they are shown."""
    app.jinja_env.globals.update(header_balance=header_balance, family_pool=family_pool, frozen_case=frozen_case,
                                 fraud_cases=fraud_cases,
                                 banner_notification=banner_notification, unread_count=unread_count)
