"""Green Points Mall: the application factory."""
import os

from flask import Flask, has_request_context, request, session
from werkzeug.routing import IntegerConverter
from flask_babel import get_locale
from flask_login import current_user

from mall import config as cfg


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True,
                template_folder="../templates", static_folder="../static")
    configure(app, test_config)
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_subscribers(app)
    register_template_helpers(app)
    register_hooks(app)
    register_commands(app)
    return app


class DatabaseId(IntegerConverter):
    """``<int:…>`` in every route: a number no database id can reach is simply not found."""

    def __init__(self, map, fixed_digits=0, min=None, max=2**31 - 1, signed=False):  # noqa: A002
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def configure(app: Flask, test_config: dict | None) -> None:
    app.url_map.converters["int"] = DatabaseId
    app.config.from_object(cfg.TestingConfig if test_config and test_config.get("TESTING") else cfg.Config)
    os.makedirs(app.instance_path, exist_ok=True)
    app.config["SQLALCHEMY_DATABASE_URI"] = cfg.database_url(app.instance_path)
    app.config["MEDIA_ROOT"] = app.config["MEDIA_ROOT"] or os.path.join(app.instance_path, "media")
    app.config["PRIVATE_ROOT"] = app.config["PRIVATE_ROOT"] or os.path.join(app.instance_path, "private")
    if app.config["LEDGER_CHECKPOINT_FILE"] is None:
        app.config["LEDGER_CHECKPOINT_FILE"] = os.path.join(app.instance_path, "ledger-checkpoints.jsonl")
    app.config["PAYMENT_SANDBOX_URL"] = cfg.with_psycopg(
        app.config["PAYMENT_SANDBOX_URL"] or "sqlite:///" + os.path.join(app.instance_path, "payment-sandbox.sqlite3"))
    if app.config["PROXY_COUNT"]:  # behind N reverse proxies: the client's address for the rate limits
        from werkzeug.middleware.proxy_fix import ProxyFix

        count = app.config["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)
    if test_config:
        app.config.update(test_config)
    if app.config["PRODUCTION"] and app.config["SECRET_KEY"] in (cfg.DEV_SECRET, "", None):
        raise RuntimeError("SECRET_KEY must be set in production (MALL_ENV=production).")
    app.config["LEDGER_KEY"] = cfg.ledger_key(app.config, app.instance_path)
    if (app.config["PRODUCTION"] and app.config.get("RATELIMIT_ENABLED", True)
            and str(app.config["RATELIMIT_STORAGE_URI"]).startswith("memory://")):
        # Per-process counting lets every worker allow the whole limit: 4 workers let 40 sign-ins through 10.
        raise RuntimeError("RATELIMIT_STORAGE_URI must name storage every worker shares (e.g. redis://127.0.0.1:6379/0) "
                           "in production (MALL_ENV=production): memory:// counts per process.")


def register_extensions(app: Flask) -> None:
    from mall.db import configure_engine
    from mall.extensions import babel, csrf, db, limiter, login_manager, migrate
    from mall.settings import Settings

    app.extensions["mall.settings"] = Settings(app.config)
    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(app.root_path), "migrations"))
    csrf.init_app(app)
    limiter.init_app(app)
    from mall import transport

    transport.init_app(app)
    from mall.catalog import pages

    pages.init_app(app)
    from flask_mailman import Mail

    from mall.messages import delivery

    Mail().init_app(app)
    delivery.install(app)
    babel.init_app(app, locale_selector=select_locale, timezone_selector=lambda: "Asia/Shanghai")
    from mall.checkout import payments

    payments.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    login_manager.session_protection = "basic"
    from mall import header
    from mall.account.models import User
    from mall.checkout import service as checkout

    login_manager.user_loader(header.load_user)  # the user and what the header shows of them, at once
    header.read_with_user("cart", checkout.cart_count_column(User.id))  # the count beside the cart
    from mall.charity import service as charity
    from mall.checkout import bills
    from mall.engage import games
    from mall.points import describe
    from mall.rules import service as rules

    for ref_type, resolver in (("order", checkout.order_references), ("bill", bills.bill_references),
                               ("purchase", rules.purchase_references), ("game_play", games.play_references),
                               ("charity_donation", charity.donation_references)):
        describe.resolves(ref_type, resolver)  # the statement names what each row was for
    with app.app_context():
        configure_engine(db.engine)


def select_locale() -> str:
    """The signed-in user's setting, else the session's, else Accept-Language, else Chinese."""
    from flask import current_app

    languages = current_app.config["LANGUAGES"]
    if not has_request_context():  # the CLI follows the terminal's language
        terminal = os.environ.get("LC_ALL") or os.environ.get("LC_MESSAGES") or os.environ.get("LANG") or ""
        return "zh_Hans_CN" if terminal.lower().startswith("zh") else "en"
    user = current_user if current_user and current_user.is_authenticated else None
    for choice in (getattr(user, "locale", None), session.get("lang")):
        if choice in languages:
            return choice
    for lang, _quality in request.accept_languages:
        lang = lang.lower()
        if lang.startswith("zh"):
            return "zh_Hans_CN"
        if lang.startswith("en"):
            return "en"
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def register_blueprints(app: Flask) -> None:
    from mall.account.views import account, auth
    from mall.admin import console, views  # noqa: F401  (the console's pages, on its blueprint)
    from mall.admin.blueprint import admin
    from mall.api.views import api
    from mall.catalog.views import catalog
    from mall.charity.views import charity
    from mall.checkout.views import checkout
    from mall.engage.views import engage
    from mall.family.views import family
    from mall.fraud.views import cases as fraud_cases
    from mall.impact.views import impact
    from mall.merchant.views import merchant
    from mall.points.views import points
    from mall.messages.views import messages
    from mall.privacy.views import privacy_pages
    from mall.rules.views import public as rules

    for blueprint in (auth, account, privacy_pages, fraud_cases, catalog, checkout, family, points, rules, merchant,
                      admin, api, charity, impact, engage, messages):
        app.register_blueprint(blueprint)


def register_subscribers(app: Flask) -> None:
    """Connect every area's reactions to the domain events (``mall.events``) of the others."""
    from importlib import import_module

    for area in SUBSCRIBING_AREAS:
        import_module(f"mall.{area}.subscribers").connect()


SUBSCRIBING_AREAS = ("account", "impact", "engage", "family", "charity", "checkout", "fraud", "messages", "rules")


def register_errorhandlers(app: Flask) -> None:
    """Every error is answered in one place: the edge (refusals, HTTP errors, database outages)."""
    from mall import edge

    edge.register(app)


def register_template_helpers(app: Flask) -> None:
    from datetime import datetime

    from mall import header, labels, web
    from mall.clock import utcnow
    from mall.rules.engine import rate_text

    app.jinja_env.filters.update(
        points=web.format_points,
        fen=web.format_fen,
        localtime=web.format_datetime_local,
        category_label=labels.category_label,
        period_label=labels.period_label,
        isotime=lambda value: web.format_datetime_local(datetime.fromisoformat(value)),
        readable_json=web.readable_json,
    )
    app.jinja_env.globals.update(
        kind_label=labels.kind_label,
        role_label=labels.role_label,
        tier_label=labels.tier_label,
        rule_label=labels.rule_label,
        note_label=labels.note_label,
        campaign_kind_label=labels.campaign_kind_label,
        category_label=labels.category_label,
        in_language=labels.in_language,
        period_label=labels.period_label,
        status_label=labels.status_label,
        order_status_label=labels.order_status_label,
        voucher_status_label=labels.voucher_status_label,
        bill_status_label=labels.bill_status_label,
        family_event_label=labels.family_event_label,
        mask_code=labels.mask_code,
        cause_label=labels.cause_label,
        project_status_label=labels.project_status_label,
        pledge_status_label=labels.pledge_status_label,
        merchant_status_label=labels.merchant_status_label,
        case_status_label=labels.case_status_label,
        fraud_action_label=labels.fraud_action_label,
        fraud_action_status_label=labels.fraud_action_status_label,
        delivery_status_label=labels.delivery_status_label,
        channel_label=labels.channel_label,
        application_status_label=labels.application_status_label,
        channel_kind_label=labels.channel_kind_label,
        staff_role_label=labels.staff_role_label,
        campaign_state_label=labels.campaign_state_label,
        invitation_state_label=labels.invitation_state_label,
        audit_action_label=labels.audit_action_label,
        audit_target_label=labels.audit_target_label,
        rate_text=rate_text,
        utcnow=utcnow,
    )
    header.register(app)

    @app.context_processor
    def inject():
        # (the header's language switch carries a CSRF token only for a signed-in user: signed out, it
        # changes only the visitor's own session, so a public page sets no cookie and can be cached)
        locale = str(get_locale() or app.config["BABEL_DEFAULT_LOCALE"])
        return {"locale": locale, "lang": "en" if locale.startswith("en") else "zh-CN",
                "languages": app.config["LANGUAGES"]}


def register_hooks(app: Flask) -> None:
    from mall.security import set_security_headers

    from mall.audit import service as audit

    audit.install()

    @app.before_request
    def audit_actor():
        """Operators and merchant staff are audited in everything they change (see mall.audit).
        Static files and uploaded images change nothing: no need to load the user for them."""
        if request.endpoint not in ("static", "catalog.media"):
            audit.set_actor(audit.actor_for_user(current_user))

    @app.after_request
    def secure(response):
        return set_security_headers(response, app.config["PRODUCTION"])


def register_commands(app: Flask) -> None:
    from mall.account.cli import user_cli
    from mall.charity.cli import charity_cli
    from mall.checkout.cli import payments_cli
    from mall.demo.cli import seed_demo
    from mall.impact.cli import impact_cli
    from mall.merchant.cli import api_key_cli
    from mall.points.cli import ledger_cli, points_cli

    from mall.messages.cli import messages_cli, worker

    for command in (user_cli, seed_demo, ledger_cli, points_cli, api_key_cli, charity_cli, impact_cli, payments_cli,
                    messages_cli, worker):
        app.cli.add_command(command)
