"""The one edge between a door and a use case.

Every door — an HTML page, an HTMX fragment, an API view, a CLI command — runs its use case here:

    run(service.add_to_cart, db.session, current_user, listing_id, option, quantity)

``run`` opens the one write transaction, calls the service, and commits; any error rolls everything
back (a refusal marked ``commits`` keeps what it recorded, see ``mall.errors``). On PostgreSQL a
deadlock or serialization failure re-runs the whole use case a bounded number of times. Services
flush and never commit. ``transaction()`` is the same for several service calls that form one use
case.

Errors are answered once, by the application's error handlers (``register``):

- ``NotFound`` → the 404 page, or problem+json under /api/;
- a refusal (any other ``DomainError``) → what the door declared with ``@on_refusal(...)``: a flash
  and a 303 back (``back_to``), the form re-rendered with its message and 422, or the HTMX fragment
  with its message; without a declaration, a GET shows the error page with the message and a POST
  flashes it and answers 303 to the page it came from;
- under /api/ every ``DomainError`` is problem+json with its stable ``type`` (``mall.problems``).

The only use cases that commit in steps are named orchestrators and say so in their docstring:
checkout's authorise → place → capture (``mall.checkout.orchestrator``) and the idempotency claim
(``mall.idempotency.run_once``). In tests, a request that leaves flushed but uncommitted changes
fails loudly (``MALL_STRICT_TRANSACTIONS``): a door that forgot the edge cannot lose data silently.
"""
from contextlib import contextmanager, suppress
from functools import wraps

import click
from flask import abort, current_app, flash, g, has_request_context, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import AnonymousUserMixin
from flask_wtf.csrf import CSRFError
from sqlalchemy import event
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException, InternalServerError

from mall.db import Busy, commit_keeping, is_postgres, retried, write
from mall.errors import DomainError, NotFound
from mall.extensions import MallSession, db
from mall.problems import domain_problem, http_problem, problem
from mall.web import is_htmx, render_page_or_fragment, safe_next


def run(use_case, /, *args, **kwargs):
    """Run ``use_case(*args, **kwargs)`` as one write transaction and return what it returns; on a
    PostgreSQL deadlock or serialization failure the whole use case runs again (``mall.db.retried``),
    and if it still fails, ``Busy`` is answered as a 503 with nothing written."""
    return retried(db.session, use_case, *args, **kwargs)


@contextmanager
def transaction():
    """Several service calls as one use case, in one write transaction (no retry: prefer ``run``)."""
    with write(db.session) as session:
        yield session


def message_of(err: DomainError) -> str:
    """The refusal's message in the reader's language (lazy strings translate themselves; the
    ledger's plain English messages are looked up in the catalogue)."""
    message = err.message
    return gettext(message) if isinstance(message, str) else str(message)


# ---------------------------------------------------------------- forms

def submitted(form):
    """The posted form if it validates (CSRF included), else 400: for button-only forms, whose only
    failure is a missing or stale token."""
    if not form.validate_on_submit():
        abort(400)
    return form


# ---------------------------------------------------------------- refusals

def on_refusal(respond, *, not_found: bool = False):
    """How this door answers a refusal of its use case: ``respond(err, **view_args)`` returns the
    response. Put it below the route (and the access guard). ``not_found=True`` hands it a NotFound
    too: for a form where that means a code the user typed matched nothing, not a missing page."""
    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            g.mall_refusal = lambda err: respond(err, **kwargs)
            g.mall_refusal_not_found = not_found
            return view(*args, **kwargs)
        return wrapper
    return decorate


def back_to(endpoint: str, **fixed):
    """A refusal answer: flash the message and 303 to ``endpoint``, built with the view's own URL
    values that the endpoint takes (and ``fixed``)."""
    def respond(err, **view_args):
        names = set()
        for rule in current_app.url_map.iter_rules(endpoint):
            names |= rule.arguments
        values = {k: v for k, v in view_args.items() if k in names}
        return flash_and_redirect(err, url_for(endpoint, **values, **fixed))
    return respond


def flash_and_redirect(err: DomainError, target: str):
    flash(message_of(err), "error")
    if is_htmx():  # a fragment cannot show a flash: the whole page goes there and shows it
        response = current_app.make_response(("", 204))
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target, code=303)


def answer_refusal(err: DomainError):
    """The application's handler for ``mall.errors.DomainError``: one place maps every refusal."""
    _end_refused()
    if request.path.startswith("/api/"):
        return domain_problem(err)
    respond = g.pop("mall_refusal", None)
    if isinstance(err, NotFound) and not (respond is not None and g.pop("mall_refusal_not_found", False)):
        return render_template("errors/error.html", error=_Status(404)), 404
    if respond is not None:
        return respond(err)
    status = err.status if 400 <= err.status < 500 else 422
    if request.method in ("GET", "HEAD"):
        return render_template("errors/error.html", error=_Status(status), message=message_of(err)), status
    referrer = request.referrer or ""
    back = safe_next(referrer[len(request.host_url) - 1:] if referrer.startswith(request.host_url) else "",
                     url_for("catalog.home"))
    return flash_and_redirect(err, back)


def _end_refused() -> None:
    """A refusal leaves nothing behind: what its transaction wrote is rolled back (a use case run through
    ``run`` was rolled back already). A refusal met on a plain read, with nothing written or pending (a
    sold-out listing refused before any transaction, a flash sale's losers), only ends the read and
    keeps what the session holds, so the answer's page does not read the member and the header again."""
    session = db.session()
    if session.info.get("uncommitted") or session.new or session.dirty or session.deleted:
        session.rollback()
    else:
        commit_keeping(session)


class _Status:
    """What the error page reads of an HTTP error."""

    def __init__(self, code: int):
        self.code = code


def page_or_fragment(page: str, fragment: str, /, **context):
    """Render the fragment for HTMX, the full page otherwise (``Vary: HX-Request``)."""
    return render_page_or_fragment(page, fragment, **context)


def fragment_or(fragment, otherwise):
    """The one fragment decision for answers that are not a page/fragment pair: ``fragment()`` for an
    HTMX request, ``otherwise()`` (a redirect, a page) for any other; ``Vary: HX-Request`` either way."""
    response = current_app.make_response(fragment() if is_htmx() else otherwise())
    response.vary.add("HX-Request")
    return response


# ---------------------------------------------------------------- CLI

def command(view=None, *, heading: str = ""):
    """A CLI command's door: a refusal is printed as an error (exit 1), never a traceback; with
    ``heading`` (``@command(heading="checkpoint refused")``) the line starts with it, for cron mail."""
    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            try:
                return view(*args, **kwargs)
            except DomainError as err:
                text = message_of(err)
                raise click.ClickException(f"{heading}: {text}" if heading else text) from err
            except Busy as err:
                raise click.ClickException("The database is busy with the same records; nothing was changed, "
                                           "run the command again.") from err
        return wrapper
    return decorate(view) if view is not None else decorate


# ---------------------------------------------------------------- the loud check

def _mark_flushed(session, _context):
    session.info["uncommitted"] = True


def _mark_written(state):
    """An INSERT, UPDATE or DELETE statement run through the session writes without a flush: marked too."""
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info["uncommitted"] = True


def _read_in_autocommit(state):
    """A GET's reads on PostgreSQL run in autocommit: no BEGIN before the first and no ROLLBACK at the end,
    two round trips of a signed-in page's few. Under READ COMMITTED every statement has its own snapshot
    anyway, so the reads see what they saw before. Only a request's reads: a write (``mall.db.write``)
    ends them and begins its own transaction on a connection of the usual kind (the pool resets the
    level), and the strict check (``left_uncommitted``) still catches a door that writes without it."""
    session = state.session
    if (state.is_select and not session.in_transaction() and has_request_context()
            and request.method in ("GET", "HEAD") and is_postgres(session)):
        session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


def _mark_ended(session, *_args):
    session.info.pop("uncommitted", None)


def answer_error(error):
    """Any other error: the HTTP error page (problem+json under /api/); anything unexpected is logged
    and answered as a 500, its transaction rolled back."""
    if not isinstance(error, HTTPException):
        current_app.logger.exception("unhandled error", exc_info=error)
        error = InternalServerError()
    db.session.rollback()
    if request.path.startswith("/api/"):
        return http_problem(error)
    return render_template("errors/error.html", error=error), error.code


def database_unavailable(error):
    """A full disk, a read-only database file or a database outage: the use case's transaction
    rolled back, so nothing was saved; the answer is "try again shortly" (503), not a server error.
    ``Busy`` (a write that still met a deadlock or serialization failure after its retries) is
    answered the same way, with its own problem type ``busy`` and a shorter Retry-After."""
    busy = isinstance(error, Busy)
    if busy:
        current_app.logger.warning("write contention, retries spent: %s", error.orig)
    else:
        current_app.logger.error("database unavailable: %s", error)
    with suppress(SQLAlchemyError):
        db.session.rollback()
    if request.path.startswith("/api/") and busy:
        response = problem(503, "busy", "The mall is busy with the same records right now.",
                           "Nothing was changed; retry shortly.")
    elif request.path.startswith("/api/"):
        response = problem(503, "database-unavailable", "The mall cannot save or read data right now.",
                           "Nothing was changed; retry shortly.")
    else:
        if "_login_user" not in g:  # loading the signed-in user needs the database too
            g._login_user = AnonymousUserMixin()
        response = current_app.make_response((render_template("errors/unavailable.html"), 503))
    response.headers["Retry-After"] = "2" if busy else "30"
    return response


def register(app) -> None:
    """Install the error handlers and, where asked, the check for forgotten commits."""
    app.register_error_handler(DomainError, answer_refusal)
    app.register_error_handler(HTTPException, answer_error)
    app.register_error_handler(CSRFError, answer_error)
    app.register_error_handler(OperationalError, database_unavailable)  # and Busy; the API blueprint registers it too
    app.register_error_handler(PoolTimeout, database_unavailable)
    app.register_error_handler(Exception, answer_error)
    if not event.contains(MallSession, "after_flush", _mark_flushed):
        event.listen(MallSession, "after_flush", _mark_flushed)
        event.listen(MallSession, "do_orm_execute", _mark_written)
        event.listen(MallSession, "do_orm_execute", _read_in_autocommit)
        event.listen(MallSession, "after_commit", _mark_ended)
        event.listen(MallSession, "after_rollback", _mark_ended)

    @app.after_request
    def left_uncommitted(response):
        """A door that changed rows without the edge would lose them silently at the end of the request."""
        if not app.config.get("MALL_STRICT_TRANSACTIONS", app.testing) or not db.session.registry.has():
            return response
        session = db.session()
        if session.info.get("uncommitted") or session.new or session.dirty or session.deleted:
            session.rollback()
            raise RuntimeError(f"{request.method} {request.path} left changes flushed but not committed: "
                               "run the use case through mall.edge.run")
        return response
