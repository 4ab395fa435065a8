"""Configuration read from the environment, with a safe embedded default."""
import os

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

    # What a merchant pays the programme for each point it issues (integer fen).
    ISSUANCE_FEE_FEN_PER_POINT = int(os.environ.get("ISSUANCE_FEE_FEN_PER_POINT", "1"))


    # Fraud cases: a freeze or deduction above this many points needs a second operator's approval.
    FRAUD_APPROVAL_THRESHOLD = int(os.environ.get("FRAUD_APPROVAL_THRESHOLD", "1000"))
    # Evidence files an operator may upload to a case.
    EVIDENCE_MAX_BYTES = 5 * 1024 * 1024


class TestingConfig(Config):
    TESTING = True
    SECRET_KEY = "testing-secret"
    RATELIMIT_STORAGE_URI = "memory://"
    LOGIN_RATE_LIMIT = "5 per minute"


def database_url(instance_path: str) -> str:
    """DATABASE_URL if set (postgres:// is accepted and mapped to psycopg 3), else SQLite in the instance folder."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        return "sqlite:///" + os.path.join(instance_path, "mall.sqlite3")
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url
