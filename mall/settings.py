"""The app's tunables as one typed object, bound to the app and reached through the database session
every service already receives: ``settings_of(session).compensation_percent``.

It reads the app's configuration when asked, so a test changes a setting through ``app.config`` (or
``monkeypatch.setitem(app.config, …)``) and every service sees it at once. No Flask imports: the
ledger reads its key and expiry policy here too. The session carries it because create_app binds a
session class that copies ``app.extensions["mall.settings"]`` into ``session.info`` (see
``mall.extensions``)."""
from collections.abc import Mapping

# Defaults for keys a deployment may leave out of its configuration.
DEFAULTS = {
    "COMPENSATION_PERCENT": 10,
    "FRAUD_APPROVAL_THRESHOLD": 1000,
    "EVIDENCE_MAX_BYTES": 5 * 1024 * 1024,
    "BILL_POINTS_PER_YUAN": 100,
    "BILL_MAX_SHARE_PERCENT": 50,
    "BILL_CODE_VALID_MINUTES": 5,
    "BILL_MAX_CODE_ATTEMPTS": 5,
    "BILL_MAX_PENDING_PER_MEMBER": 3,
    "FAMILY_MEMBER_LIMIT": 7,
    "FAMILY_INVITE_DAYS": 7,
    "FAMILY_GIFT_DAILY_LIMIT": 5000,
    "FAMILY_GIFT_MONTHLY_LIMIT": 20000,
    "FAMILY_GIFT_OUTSIDE_FAMILY": False,
    # What happens to a member's pooled points when they leave or are removed: "stay" (they stay in
    # the pool) or "return" (their unspent contributions come back to them).
    "FAMILY_LEAVE_POLICY": "stay",
    "IMPACT_CACHE_SECONDS": 60,
    "POINTS_EXPIRY_POLICY": "calendar_year_after",
    "POINTS_REMIND_DAYS": 30,
    "REDEMPTION_VALUE_FEN_PER_POINT": 1,
    "ISSUANCE_FEE_FEN_PER_POINT": 1,
    "LEDGER_CHECKPOINT_FILE": "",
    "PAGE_SIZE": 20,
    "PAYMENT_RECONCILE_GRACE_MINUTES": 15,
    "MALL_FAULT_POINT": "",
    "MALL_FAULT_SECONDS": 2,
}


class _Key:
    """A setting read from one configuration key."""

    def __init__(self, key: str):
        self.key = key

    def __get__(self, settings, owner=None):
        if settings is None:
            return self
        return settings.get(self.key)


class Settings:
    """Every tunable a service reads, by name; the configuration key is documented in README."""

    expiry_policy = _Key("POINTS_EXPIRY_POLICY")
    remind_days = _Key("POINTS_REMIND_DAYS")
    checkpoint_file = _Key("LEDGER_CHECKPOINT_FILE")
    seal_lag_seconds = _Key("LEDGER_SEAL_LAG_SECONDS")
    compensation_percent = _Key("COMPENSATION_PERCENT")
    redemption_value_fen_per_point = _Key("REDEMPTION_VALUE_FEN_PER_POINT")
    issuance_fee_fen_per_point = _Key("ISSUANCE_FEE_FEN_PER_POINT")
    fraud_approval_threshold = _Key("FRAUD_APPROVAL_THRESHOLD")
    evidence_max_bytes = _Key("EVIDENCE_MAX_BYTES")
    bill_points_per_yuan = _Key("BILL_POINTS_PER_YUAN")
    bill_max_share_percent = _Key("BILL_MAX_SHARE_PERCENT")
    bill_code_valid_minutes = _Key("BILL_CODE_VALID_MINUTES")
    bill_max_code_attempts = _Key("BILL_MAX_CODE_ATTEMPTS")
    bill_max_pending = _Key("BILL_MAX_PENDING_PER_MEMBER")
    family_member_limit = _Key("FAMILY_MEMBER_LIMIT")
    family_invite_days = _Key("FAMILY_INVITE_DAYS")
    family_gift_daily_limit = _Key("FAMILY_GIFT_DAILY_LIMIT")
    family_gift_monthly_limit = _Key("FAMILY_GIFT_MONTHLY_LIMIT")
    family_gift_outside_family = _Key("FAMILY_GIFT_OUTSIDE_FAMILY")
    family_leave_policy = _Key("FAMILY_LEAVE_POLICY")
    impact_cache_seconds = _Key("IMPACT_CACHE_SECONDS")
    page_size = _Key("PAGE_SIZE")
    payment_reconcile_grace_minutes = _Key("PAYMENT_RECONCILE_GRACE_MINUTES")
    fault_point = _Key("MALL_FAULT_POINT")  # bench/faults.sh only (see mall.checkout.service.fault_point)
    fault_seconds = _Key("MALL_FAULT_SECONDS")
    media_root = _Key("MEDIA_ROOT")
    private_root = _Key("PRIVATE_ROOT")
    testing = _Key("TESTING")

    def __init__(self, config: Mapping):
        self._config = config

    def get(self, key: str):
        return self._config[key] if key in self._config else DEFAULTS.get(key)

    @property
    def ledger_key(self) -> bytes:
        """The key that seals ledger rows and checkpoints (LEDGER_KEY); never stored in the database."""
        key = self._config.get("LEDGER_KEY")
        if not key:
            raise RuntimeError("the ledger key is not configured (LEDGER_KEY)")
        return key.encode() if isinstance(key, str) else key


def settings_of(session) -> Settings:
    """The settings of the app whose database session this is."""
    session = session() if callable(getattr(session, "registry", None)) else session  # a scoped session
    try:
        return session.info["settings"]
    except KeyError:
        raise RuntimeError("this database session belongs to no mall app (create it with mall.extensions.db)") from None
