"""Configuration read from the environment, with a safe embedded default."""
import os
import secrets

DEV_SECRET = "dev-only-secret-change-me"


class Config:
    SECRET_KEY = os.environ.get("SECRET_KEY", DEV_SECRET)
    SQLALCHEMY_DATABASE_URI = None  # set from DATABASE_URL or the instance folder in create_app
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}
    PRODUCTION = os.environ.get("MALL_ENV", "development") == "production"

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = PRODUCTION
    REMEMBER_COOKIE_SECURE = PRODUCTION
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session

    BABEL_DEFAULT_LOCALE = "zh_Hans_CN"
    BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"
    BABEL_TRANSLATION_DIRECTORIES = "translations"
    LANGUAGES = {"zh_Hans_CN": "中文", "en": "English"}

    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "memory://")
    # Signed-out storefront pages (mall/catalog/pages.py): in-process by default; in production with
    # several workers or nodes, RedisCache and CACHE_REDIS_URL share one cache between them.
    CACHE_TYPE = os.environ.get("CACHE_TYPE", "SimpleCache")
    CACHE_REDIS_URL = os.environ.get("CACHE_REDIS_URL", "")
    PAGE_CACHE_SECONDS = int(os.environ.get("PAGE_CACHE_SECONDS", "60"))

    # Messages (mall/messages). The worker (`flask --app app worker`) takes jobs from RQ on REDIS_URL,
    # or polls the outbox when it is empty. MALL_BASE_URL is where links in e-mails and SMS point.
    REDIS_URL = os.environ.get("REDIS_URL", "")
    MALL_BASE_URL = os.environ.get("MALL_BASE_URL", "http://127.0.0.1:5000")
    MAIL_SERVER = os.environ.get("MAIL_SERVER", "localhost")
    MAIL_PORT = int(os.environ.get("MAIL_PORT", "25"))
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME") or None
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD") or None
    MAIL_USE_TLS = os.environ.get("MAIL_USE_TLS", "").lower() in ("1", "true", "yes")
    MAIL_USE_SSL = os.environ.get("MAIL_USE_SSL", "").lower() in ("1", "true", "yes")
    MAIL_DEFAULT_SENDER = os.environ.get("MAIL_DEFAULT_SENDER", "绿色积分商城 <no-reply@greenpoints.example>")
    MAIL_TIMEOUT = int(os.environ.get("MAIL_TIMEOUT", "15"))
    SMS_PROVIDER = os.environ.get("SMS_PROVIDER", "")  # "module:Class"; empty: the sandbox
    SMS_SANDBOX_URL = os.environ.get("SMS_SANDBOX_URL", "")
    SMS_DAILY_CAP = int(os.environ.get("SMS_DAILY_CAP", "5"))
    MESSAGES_MAX_ATTEMPTS = int(os.environ.get("MESSAGES_MAX_ATTEMPTS", "5"))
    MESSAGES_RETRY_BASE_SECONDS = float(os.environ.get("MESSAGES_RETRY_BASE_SECONDS", "30"))
    MESSAGES_LEASE_SECONDS = int(os.environ.get("MESSAGES_LEASE_SECONDS", "60"))
    WEBHOOK_TIMEOUT_SECONDS = float(os.environ.get("WEBHOOK_TIMEOUT_SECONDS", "10"))
    # http:// webhook endpoints on this machine (127.0.0.1, localhost), for development; never in production.
    WEBHOOK_ALLOW_LOCAL_HTTP = os.environ.get("WEBHOOK_ALLOW_LOCAL_HTTP", "").lower() in ("1", "true", "yes")
    # How many reverse proxies stand in front of the app (their X-Forwarded-For is then trusted).
    PROXY_COUNT = int(os.environ.get("PROXY_COUNT", "0"))
    RATELIMIT_HEADERS_ENABLED = True
    LOGIN_RATE_LIMIT = os.environ.get("LOGIN_RATE_LIMIT", "10 per minute;50 per hour")

    # Ledger policy: "calendar_year_after" (end of the calendar year after earning, Asia/Shanghai),
    # "months:N" (N months after earning) or "never".
    POINTS_EXPIRY_POLICY = os.environ.get("POINTS_EXPIRY_POLICY", "calendar_year_after")
    POINTS_REMIND_DAYS = 30
    PAGE_SIZE = 20

    # Uploaded images: under the instance folder unless MEDIA_ROOT points elsewhere (e.g. a mounted object store).
    MEDIA_ROOT = os.environ.get("MEDIA_ROOT")
    # Files only operators may read (fraud-case evidence): never under MEDIA_ROOT, which is public.
    PRIVATE_ROOT = os.environ.get("PRIVATE_ROOT")

    # What the programme pays a merchant for each point redeemed at it (integer fen; 100 points = ¥1).
    REDEMPTION_VALUE_FEN_PER_POINT = int(os.environ.get("REDEMPTION_VALUE_FEN_PER_POINT", "1"))
    # Compensation when a merchant cancels a redemption, as a percentage of the points.
    COMPENSATION_PERCENT = int(os.environ.get("COMPENSATION_PERCENT", "10"))

    # Paying part of a till bill with points.
    BILL_POINTS_PER_YUAN = int(os.environ.get("BILL_POINTS_PER_YUAN", "100"))
    BILL_MAX_SHARE_PERCENT = int(os.environ.get("BILL_MAX_SHARE_PERCENT", "50"))
    # The member's one-time code: how long it is valid, and how many tries void the request.
    BILL_CODE_VALID_MINUTES = int(os.environ.get("BILL_CODE_VALID_MINUTES", "5"))
    BILL_MAX_CODE_ATTEMPTS = int(os.environ.get("BILL_MAX_CODE_ATTEMPTS", "5"))
    # How many requests one merchant may keep waiting (pending, unexpired) for one member.
    BILL_MAX_PENDING_PER_MEMBER = int(os.environ.get("BILL_MAX_PENDING_PER_MEMBER", "3"))
    # Code confirmations allowed per API key or staff user, and per member (over both doors).
    BILL_CONFIRM_RATE_LIMIT = os.environ.get("BILL_CONFIRM_RATE_LIMIT", "60 per minute")
    BILL_MEMBER_CONFIRM_RATE_LIMIT = os.environ.get("BILL_MEMBER_CONFIRM_RATE_LIMIT", "10 per minute;30 per hour")

    # The payment sandbox's own store (the gateway's side, not the mall's database): a database URL
    # every worker can reach. Default: a SQLite file in the instance folder.
    PAYMENT_SANDBOX_URL = os.environ.get("PAYMENT_SANDBOX_URL")
    # Authorisations older than this that are still open are captured or voided by `payments reconcile`.
    PAYMENT_RECONCILE_GRACE_MINUTES = int(os.environ.get("PAYMENT_RECONCILE_GRACE_MINUTES", "15"))
    # For bench/faults.sh only: pause a checkout at this step (after_authorise, after_stock, after_points,
    # after_commit) for MALL_FAULT_SECONDS, so that the benchmark can kill the worker there.
    MALL_FAULT_POINT = os.environ.get("MALL_FAULT_POINT", "")
    MALL_FAULT_SECONDS = float(os.environ.get("MALL_FAULT_SECONDS", "2"))

    # What a merchant pays the programme for each point it issues (integer fen).
    ISSUANCE_FEE_FEN_PER_POINT = int(os.environ.get("ISSUANCE_FEE_FEN_PER_POINT", "1"))


    # Fraud cases: a freeze or deduction above this many points needs a second operator's approval.
    FRAUD_APPROVAL_THRESHOLD = int(os.environ.get("FRAUD_APPROVAL_THRESHOLD", "1000"))
    # Evidence files an operator may upload to a case.
    EVIDENCE_MAX_BYTES = 5 * 1024 * 1024

    # The key that seals ledger rows and checkpoints; never stored in the database (see ledger_key).
    LEDGER_KEY = os.environ.get("LEDGER_KEY")
    # Where `flask ledger checkpoint` appends the sealed chain heads (JSON lines); default in the
    # instance folder. Best on storage the database's credentials cannot rewrite.
    LEDGER_CHECKPOINT_FILE = os.environ.get("LEDGER_CHECKPOINT_FILE")
    # `flask ledger verify` reports transfers no block holds yet this many seconds after they were posted
    # (the sealer, `flask ledger seal --follow`, is not running or not keeping up).
    LEDGER_SEAL_LAG_SECONDS = int(os.environ.get("LEDGER_SEAL_LAG_SECONDS", "300"))


class TestingConfig(Config):
    TESTING = True
    SECRET_KEY = "testing-secret"
    RATELIMIT_STORAGE_URI = "memory://"
    LOGIN_RATE_LIMIT = "5 per minute"
    LEDGER_KEY = os.environ.get("LEDGER_KEY", "testing-ledger-key")
    LEDGER_CHECKPOINT_FILE = ""  # none unless a test names its own file
    IMPACT_CACHE_SECONDS = 0  # every read of the programme's figures is fresh
    REDIS_URL = ""  # a test that wants the queue names its own
    MAIL_SERVER, MAIL_PORT = "127.0.0.1", 1  # a test that sends mail runs its own SMTP server
    MAIL_BACKEND = "smtp"  # real SMTP in tests too (Flask-Mailman would keep mail in memory when testing)


def database_url(instance_path: str) -> str:
    """DATABASE_URL if set (postgres:// is accepted and mapped to psycopg 3), else SQLite in the instance folder."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        return "sqlite:///" + os.path.join(instance_path, "mall.sqlite3")
    return with_psycopg(url)


def with_psycopg(url: str) -> str:
    """postgres:// and postgresql:// URLs through psycopg 3; any other URL as it is."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def ledger_key(config, instance_path: str) -> str:
    """The key that seals ledger rows and checkpoints, used by the app and by the migrations.

    LEDGER_KEY if set; refused when missing in production; otherwise a key generated once in the
    instance folder (``ledger.key``, mode 0600), so a development database keeps verifying."""
    if config.get("LEDGER_KEY"):
        return config["LEDGER_KEY"]
    if config.get("PRODUCTION"):
        raise RuntimeError("LEDGER_KEY must be set in production (MALL_ENV=production).")
    path = os.path.join(instance_path, "ledger.key")
    if not os.path.exists(path):
        scratch = f"{path}.{os.getpid()}"
        fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
        try:
            os.link(scratch, path)  # atomic: of several processes starting at once, one key wins
        except FileExistsError:
            pass
        finally:
            os.unlink(scratch)
    with open(path, encoding="ascii") as f:
        return f.read().strip()
