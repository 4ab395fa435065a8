"""The edge (mall.edge): one transaction per use case, refusals answered once, forgotten commits caught."""
import pytest
from flask import get_flashed_messages, request
from sqlalchemy import event, select

from mall.account.models import User
from mall.edge import back_to, on_refusal, run
from mall.errors import Conflict, NotFound
from mall.extensions import csrf, db
from tests.builders import make_user


def _rename(user_id: int, name: str, refuse: Exception | None = None):
    """A use case: rename a user (flushed), then maybe refuse."""
    db.session.get(User, user_id).display_name = name
    db.session.flush()
    if refuse is not None:
        raise refuse


@pytest.fixture
def edge_app(app):
    """The app with a few doors written the way every view is."""
    user_id = make_user(app, "door@example.com", name="Door")

    @csrf.exempt
    @on_refusal(back_to("catalog.home"))
    def declared():
        run(_rename, user_id, "declared", Conflict("Sold out."))
        return "never"

    @csrf.exempt
    def undeclared():
        run(_rename, user_id, "undeclared", Conflict("Sold out."))
        return "never"

    def missing():
        run(_rename, user_id, "missing", NotFound("No such thing."))
        return "never"

    @csrf.exempt
    def committed():
        run(_rename, user_id, "committed")
        return "ok"

    @csrf.exempt
    def forgotten():
        _rename(user_id, "forgotten")  # no edge: the change would be lost at the end of the request
        return "ok"

    def read_then_write():
        name = db.session.scalar(select(User.display_name).where(User.id == user_id))
        run(_rename, user_id, f"{name} read", Conflict("Sold out.") if "refuse" in request.args else None)
        return db.session.scalar(select(User.display_name).where(User.id == user_id))

    app.add_url_rule("/test/read-then-write", view_func=read_then_write)
    app.add_url_rule("/test/declared", view_func=declared, methods=["POST"])
    app.add_url_rule("/test/undeclared", view_func=undeclared, methods=["GET", "POST"])
    app.add_url_rule("/test/missing", view_func=missing)
    app.add_url_rule("/test/committed", view_func=committed, methods=["POST"])
    app.add_url_rule("/test/forgotten", view_func=forgotten, methods=["POST"])
    app.user_id = user_id
    return app


def _name(app) -> str:
    with app.app_context():
        return db.session.scalar(select(User.display_name).where(User.id == app.user_id))


def test_a_use_case_commits_once_and_a_refusal_writes_nothing(edge_app):
    client = edge_app.test_client()
    assert client.post("/test/committed").status_code == 200
    assert _name(edge_app) == "committed"
    response = client.post("/test/declared")
    assert response.status_code == 303 and response.headers["Location"] == "/"
    assert _name(edge_app) == "committed"  # the refused rename rolled back


def test_a_declared_refusal_flashes_and_goes_where_the_door_said(edge_app):
    with edge_app.test_client() as client:
        client.post("/test/declared")
        assert ("error", "Sold out.") in get_flashed_messages(with_categories=True)


def test_htmx_refusal_sends_the_whole_page_there(edge_app):
    response = edge_app.test_client().post("/test/declared", headers={"HX-Request": "true"})
    assert response.status_code == 204 and response.headers["HX-Redirect"] == "/"


def test_undeclared_refusals_show_the_message_or_go_back(edge_app):
    client = edge_app.test_client()
    page = client.get("/test/undeclared")
    assert page.status_code == 409 and "Sold out." in page.get_data(as_text=True)
    back = client.post("/test/undeclared", headers={"Referer": "http://localhost/catalog?kind=goods"})
    assert back.status_code == 303 and back.headers["Location"] == "/catalog?kind=goods"
    away = client.post("/test/undeclared", headers={"Referer": "https://elsewhere.example/"})
    assert away.headers["Location"] == "/"  # never back to another site
    assert _name(edge_app) == "Door"


def test_not_found_is_the_404_page(edge_app):
    assert edge_app.test_client().get("/test/missing").status_code == 404
    assert _name(edge_app) == "Door"


def test_a_door_that_forgets_the_edge_fails_loudly_in_tests(edge_app):
    with pytest.raises(RuntimeError, match="flushed but not committed"):
        edge_app.test_client().post("/test/forgotten")
    assert _name(edge_app) == "Door"


def test_a_gets_reads_run_without_a_transaction_and_its_write_in_one(edge_app):
    """On PostgreSQL a GET's reads run in autocommit (no BEGIN, no ROLLBACK: two round trips fewer); the
    use case it runs still writes in one transaction, and a refused one writes nothing."""
    with edge_app.app_context():
        engine = db.engine
    sent = []

    def record(conn, cursor, statement, params, context, executemany):
        if engine.dialect.name == "postgresql":
            sent.append((statement.split()[0], conn.connection.dbapi_connection.autocommit))

    event.listen(engine, "before_cursor_execute", record)
    try:
        client = edge_app.test_client()
        assert client.get("/test/read-then-write").get_data(as_text=True) == "Door read"
        written, sent[:] = list(sent), []
        client.get("/test/read-then-write?refuse=1")
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert _name(edge_app) == "Door read"  # the refused rename left nothing
    if engine.dialect.name == "postgresql":
        # the reads before and after the use case in autocommit, its lookup and update in a transaction
        assert written[0] == written[-1] == ("SELECT", True) and ("UPDATE", False) in written
        assert sent[0] == ("SELECT", True) and sent[-1] == ("UPDATE", False)  # then rolled back
        assert ("UPDATE", True) not in written + sent
