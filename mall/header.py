"""What every page's header and banners show the signed-in user (the balance, a freezing fraud case,
the newest unread notification), and the fraud cases their account page lists. Templates call these
only where they show them (``register`` makes them template globals)."""
from flask import Flask, g
from flask_login import current_user

from mall.account import service as accounts
from mall.extensions import db
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


def register(app: Flask) -> None:
    """Make the helpers template globals; templates call them only where they are shown."""
    app.jinja_env.globals.update(header_balance=header_balance, frozen_case=frozen_case, fraud_cases=fraud_cases,
                                 banner_notification=banner_notification)
