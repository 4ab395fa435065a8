"""The member's statement, its CSV export, and notifications."""
from datetime import datetime, time, timedelta

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required

from mall.account import service as accounts
from mall.account.forms import EmptyForm
from mall.clock import SHANGHAI, utcnow
from mall.edge import fragment_or, run, submitted
from mall.extensions import db
from mall.forms import database_id
from mall.ledger import service as ledger
from mall.points.describe import KIND_LABELS, describe, kind_label
from mall.points.forms import StatementFilterForm
from mall.rules import service as rules
from mall.settings import settings_of
from mall.web import csv_response, format_datetime_local

points = Blueprint("points", __name__, url_prefix="/account")


def _filters(form: StatementFilterForm) -> dict:
    """Statement filters as ledger arguments; dates are whole days in Asia/Shanghai."""
    def instant(day):
        return datetime.combine(day, time.min, tzinfo=SHANGHAI) if day else None

    return {
        "kinds": [form.kind.data] if form.kind.data in KIND_LABELS else None,
        "start": instant(form.start.data),
        "end": instant(form.end.data + timedelta(days=1)) if form.end.data else None,
    }


def _account():
    """The signed-in user's member account; None for staff who never had one (nothing is created)."""
    return ledger.find_account(db.session, "member", current_user.id)


@points.route("")
@login_required
def home():
    """我的: the member's home in the mall: balance, tier and the way to the next, what expires soon,
    shortcuts to everything that is theirs; for staff and operators their account and their work."""
    account, now = _account(), utcnow()
    member = current_user.role == "member"
    expiring = ledger.expiring_summary(db.session, account, now, 30) if account else []
    return render_template("points/home.html", member=member,
                           standing=rules.tier_standing(db.session, current_user, now) if member else None,
                           expiring_points=sum(points for _, points in expiring),
                           expiring_first=expiring[0][0] if expiring else None)


@points.route("/statement")
@login_required
def statement():
    """Balance, points expiring soon, and the history, newest first; "load more" continues it."""
    form = StatementFilterForm(request.args)
    filters = _filters(form) if form.validate() else {}
    before = request.args.get("before", type=database_id)
    size = settings_of(db.session).page_size
    account = _account()
    rows = ledger.statement(db.session, account, before_id=before, limit=size + 1, **filters) if account else []
    more, rows = len(rows) > size, rows[:size]
    context = dict(
        form=form, balance=account.balance if account else 0,
        rows=list(zip(rows, describe(db.session, rows, str(get_locale()), current_user.id))),
        next_before=rows[-1].transfer.id if more and rows else None,
        query={k: v for k, v in request.args.items() if k != "before"},
    )
    fragment = "points/_rows.html" if before else "points/_history.html"

    def page():
        """The whole page adds what is expiring soon and the spending order."""
        return render_template(
            "points/statement.html", **context,
            expiring=ledger.expiring_summary(db.session, account, utcnow(), 30) if account else [],
            lots=ledger.open_lots(db.session, account, limit=10) if account else [])

    return fragment_or(lambda: render_template(fragment, **context), page)


@points.route("/statement.csv")
@login_required
def statement_csv():
    """The whole filtered history as CSV (UTF-8 with BOM, so Excel reads the Chinese)."""
    form = StatementFilterForm(request.args)
    filters = _filters(form) if form.validate() else {}
    account = _account()
    locale = str(get_locale())

    def rows():
        yield [_("Time (Asia/Shanghai)"), _("Kind"), _("Description"), _("Points"), _("Entry"), _("Reference")]
        before = None
        while account is not None:
            page = ledger.statement(db.session, account, before_id=before, limit=1000, **filters)
            if not page:
                break
            for row, line in zip(page, describe(db.session, page, locale, current_user.id)):
                t = row.transfer
                reference = f"{t.ref_type}:{t.ref_id}" if t.ref_type else ""
                yield [format_datetime_local(t.created_at), kind_label(t.kind), line.text, row.delta, t.id, reference]
            before = page[-1].transfer.id

    return csv_response(f"statement-{current_user.member_code}.csv", rows())


@points.route("/notifications")
@login_required
def notifications():
    """The member's notifications, newest first."""
    items = accounts.notifications(db.session, current_user)
    return render_template("points/notifications.html", items=items, form=EmptyForm())


@points.route("/notifications/read", methods=["POST"])
@login_required
def notifications_read():
    """Mark one notification (``id``) or all of them read."""
    submitted(EmptyForm())
    run(accounts.mark_read, db.session, current_user, request.form.get("id", type=database_id))
    return fragment_or(lambda: "", lambda: redirect(url_for("points.notifications"), code=303))
