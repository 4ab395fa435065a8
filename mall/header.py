"""What every page's header and banners show the signed-in user (the balance, a freezing fraud case,
the newest unread notification, the family pool they may spend), and the fraud cases their account
page lists. Templates call these only where they show them (``register`` makes them template globals).

The facts the header needs are read with the user, in the statement that loads them for the session
(``load_user``): one round trip instead of one per fact. They describe the user as the request found
them, so the first write of the request (a flush, or an UPDATE/INSERT/DELETE statement) drops them and
the helpers read afresh from then on: a page rendered after a change shows the change."""
from dataclasses import dataclass
from functools import cache

from flask import (Flask, current_app, g, get_flashed_messages, get_template_attribute, has_request_context,
                   render_template, request, url_for)
from flask_babel import get_locale, gettext, ngettext
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup
from sqlalchemy import bindparam, event, select
from sqlalchemy.orm import Session, lazyload

from mall.account import service as accounts
from mall.account.models import Notification, User
from mall.extensions import db
from mall.family import service as family
from mall.fraud import service as fraud
from mall.ledger import service as ledger
from mall.web import format_points


@dataclass(frozen=True)
class Facts:
    balance: int | None  # None: no member account (staff, operators, a member who never had one)
    frozen: bool
    unread: int
    newest_unread_id: int | None
    in_family: bool


_ALSO: dict[str, tuple] = {}  # name: columns read with the user (``read_with_user``)


def read_with_user(name: str, *columns) -> None:
    """Read ``columns`` (scalar subqueries, which may refer to ``User.id``) in the statement that loads
    the signed-in user; ``with_user(name)`` gives their values. For what nearly every signed-in page
    reads anyway (the catalog's version, the cart's count): no round trip of its own. Areas the header
    may not import register theirs from the app factory."""
    _ALSO[name] = columns
    _statements.cache_clear()


def with_user(name: str, fresh: bool = False) -> tuple | None:
    """The values of ``read_with_user(name)`` as the request found them; once the request wrote, None,
    or with ``fresh`` read again. None signed out."""
    values = g.get("with_user", {}).get(name)
    if values is None and fresh and current_user.is_authenticated:
        values = tuple(db.session.execute(select(*_ALSO[name]).where(User.id == current_user.id)).one())
        g.setdefault("with_user", {})[name] = values
    return values


def cart_count() -> int:
    """Items in the signed-in member's cart (the count beside the cart in the header and the tab bar)."""
    values = with_user("cart", fresh=True) if "cart" in _ALSO else None
    return int(values[0] or 0) if values else 0


@cache
def _statements():
    """(the user with the facts and what else is read with them, the facts alone) for
    ``bindparam("user_id")``, built once."""
    columns = (*ledger.member_account_columns(User.id), *accounts.unread_columns(), family.membership_column(User.id))
    also = [column for columns in _ALSO.values() for column in columns]
    user_id = bindparam("user_id")
    # a member has no merchant: staff pages read theirs when they show it, one statement more for them
    # rather than twenty columns more for every member's request
    return (select(User, *columns, *also).where(User.id == user_id).options(lazyload(User.merchant)),
            select(*columns).where(User.id == user_id))


_FACTS = 5  # values of Facts, first in the statement


def _facts_of(values) -> Facts:
    balance, frozen, unread, newest, in_family = values[:_FACTS]
    return Facts(None if balance is None else int(balance), bool(frozen), int(unread or 0), newest, bool(in_family))


def load_user(session_id: str):
    """Flask-Login's user loader: the session's user, with the header's facts in the same statement."""
    user, values = accounts.load_session_user(db.session, session_id, _statements()[0])
    if user is not None:
        g.header_facts = _facts_of(values)
        also, at = {}, _FACTS
        for name, columns in _ALSO.items():
            also[name], at = tuple(values[at:at + len(columns)]), at + len(columns)
        g.with_user = also
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
        g.pop("with_user", None)
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


# ---------------------------------------------------------------- the user's own parts of every page

def member_part(name: str, quiet: bool = False) -> Markup:
    """One of the parts of every page that are the signed-in user's own (``body``: the CSRF header HTMX
    sends; ``inbox``; ``tools``: the balance and the language switch; ``banners``; ``flashes``). A
    member's page may be kept without them (``mall.catalog.pages``: a skeleton with a marker where
    each goes) and completed per request, so they are built here in a few string operations rather
    than a template each time; banners and flashed messages, rare, render their templates.
    ``quiet``: an answer a crowd gets at once (a flash sale's "sold out") reads no balance or banners."""
    return _PARTS[name](quiet)


@cache
def _words(locale: str, script_root: str) -> dict:
    """The fixed words and links of the user's own parts, in ``locale`` (made once per language and
    mount point: a translation lookup or ``url_for`` costs more than the rest of the part)."""
    words = {w: gettext(w) for w in ("My points", "points", "Notifications", "Messages", "Language")}
    links = {"statement": url_for("points.statement"), "notifications": url_for("points.notifications")}
    for code in current_app.config["LANGUAGES"]:
        links[code] = url_for("account.language", lang=code)
    return words | links


SHORT_LABELS = {"en": "EN"}  # a language's name on a phone's header


@cache
def _icon(name: str) -> Markup:
    """The icon ``name`` of templates/_icons.html (made once: it never changes)."""
    return Markup(get_template_attribute("_icons.html", "icon")(name))


def _fixed() -> dict:
    return _words(str(get_locale() or current_app.config["BABEL_DEFAULT_LOCALE"]), request.script_root)


def balance_link(oob: bool = False) -> Markup:
    """The signed-in member's balance in the header (empty without one); with ``oob`` an HTMX
    out-of-band swap of it, for answers that change it."""
    points = header_balance()
    if points is None:
        return Markup("")
    words = _fixed()
    return Markup('<a class="balance" id="header-balance"%s href="%s" title="%s"><strong>%s</strong> <span class="unit">%s</span></a>') % (
        Markup(' hx-swap-oob="true"') if oob else "", words["statement"], words["My points"],
        format_points(points), words["points"])


def _body(quiet) -> Markup:
    if not current_user.is_authenticated:
        return Markup("")
    return Markup(' hx-headers=\'{"X-CSRFToken": "%s"}\'') % generate_csrf()


def _inbox(quiet) -> Markup:
    unread, words = unread_count(), _fixed()
    label = ngettext("Notifications: %(num)d unread", "Notifications: %(num)d unread", unread) if unread \
        else words["Notifications"]
    count = Markup(' <span class="count" id="unread-count">%s</span>') % (unread if unread < 100 else "99+") \
        if unread else ""
    return Markup('<li><a class="inbox" id="inbox" href="%s" aria-label="%s">%s<span class="label">%s</span>%s</a></li>') % (
        words["notifications"], label, _icon("bell"), words["Messages"], count)


def _tools(quiet) -> Markup:
    locale, words = str(get_locale() or current_app.config["BABEL_DEFAULT_LOCALE"]), _fixed()
    token = Markup('<input id="language-csrf" name="csrf_token" type="hidden" value="%s">') % generate_csrf() \
        if current_user.is_authenticated else ""
    buttons = Markup("").join(
        Markup('<button type="submit" formaction="%s" class="link%s"%s lang="%s" aria-label="%s">%s</button>') % (
            words[code], " current" if code == locale else "",
            Markup(' aria-current="true"') if code == locale else "", "en" if code == "en" else "zh-CN", label,
            Markup('<span class="long">%s</span><span class="short">%s</span>') % (label, SHORT_LABELS.get(code, label))
            if code in SHORT_LABELS else label)
        for code, label in current_app.config["LANGUAGES"].items())
    return Markup('%s<form class="lang" method="post" action="" aria-label="%s">%s'
                  '<input type="hidden" name="next" value="%s">%s</form>') % (
        "" if quiet or current_user.is_authenticated and current_user.role != "member" else balance_link(),
        words["Language"], token,
        request.full_path if request.query_string else request.path, buttons)


def _cart(quiet) -> Markup:
    count = 0 if quiet else cart_count()
    return Markup(' <span class="count">%s</span>') % (count if count < 100 else "99+") if count else Markup("")


def _banners(quiet) -> Markup:
    if quiet or not current_user.is_authenticated:
        return Markup("")
    frozen, banner = frozen_case(), banner_notification()
    if frozen is None and banner is None:
        return Markup("")
    return Markup(render_template("_banners.html", frozen=frozen, banner=banner))


def _flashes(quiet) -> Markup:
    messages = get_flashed_messages(with_categories=True)
    if not messages:
        return Markup("")
    return Markup('<div class="flashes">%s</div>') % Markup("").join(
        Markup('<p class="flash %s" role="status">%s</p>') % (category, message) for category, message in messages)


_PARTS = {"body": _body, "inbox": _inbox, "tools": _tools, "cart": _cart, "banners": _banners, "flashes": _flashes}


def register(app: Flask) -> None:
    """Make the helpers template globals; templates call them only where they are shown."""
    app.jinja_env.globals.update(header_balance=header_balance, family_pool=family_pool, frozen_case=frozen_case,
                                 fraud_cases=fraud_cases,
                                 banner_notification=banner_notification, unread_count=unread_count,
                                 member_part=member_part, balance_link=balance_link, cart_count=cart_count)
    if not event.contains(Session, "after_flush", _drop_facts):
        event.listen(Session, "after_flush", _drop_facts)
        event.listen(Session, "do_orm_execute", _on_statement)
