"""Merchants: creation, their ledger accounts, who works for them, and their status."""
import re
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from mall import events
from mall.clock import utcnow
from mall.db import lock
from mall.errors import Conflict, DomainError, NotFound
from mall.ledger import service as ledger
from mall.media import store_image
from mall.settings import settings_of
from mall.coalition.models import Merchant, MerchantApplication


def create_merchant(session: Session, *, slug: str, name_zh: str, name_en: str, category: str,
                    status: str = "pending") -> Merchant:
    """A merchant with its issuance account (points it awards) and redemption account (points spent at it)."""
    merchant = Merchant(slug=slug, name_zh=name_zh, name_en=name_en, category=category, status=status)
    session.add(merchant)
    session.flush()
    ledger.open_account(session, "merchant", merchant.id, "issuance")
    ledger.open_account(session, "merchant", merchant.id, "redemption")
    return merchant


def get_by_slug(session: Session, slug: str) -> Merchant | None:
    return session.scalar(select(Merchant).where(Merchant.slug == slug))


def names_of(session: Session, merchant_ids, locale: str) -> dict[int, str]:
    """Merchants' names in ``locale`` by id, in one query (for rows that name their merchant)."""
    if not merchant_ids:
        return {}
    return {m.id: m.name(locale) for m in session.scalars(select(Merchant).where(Merchant.id.in_(merchant_ids)))}


def staff_merchant(session: Session, user) -> Merchant:
    """The merchant a staff user works for, or NotFound (to everyone else the back office is absent)."""
    if user is None or not user.is_merchant_staff:
        raise NotFound("Not found.")
    return session.get(Merchant, user.merchant_id)


def merchants(session: Session, status: str | None = None) -> list[Merchant]:
    stmt = select(Merchant).order_by(Merchant.status != "pending", Merchant.id)
    if status:
        stmt = stmt.where(Merchant.status == status)
    return list(session.scalars(stmt))


def set_status(session: Session, operator, merchant_id: int, action: str, reason: str = "") -> Merchant:
    """An operator approves, suspends (with a reason) or reinstates a merchant. A suspended merchant's
    listings leave the mall and it can neither issue points nor list; its members keep their points."""
    if operator is None or not operator.is_operator:
        raise NotFound(_l("Not found."))
    merchant = lock(session, Merchant, [merchant_id]).get(merchant_id)
    if merchant is None:
        raise NotFound(_l("No such merchant."))
    reason = (reason or "").strip()
    allowed = {"approve": ("pending",), "suspend": ("pending", "approved"), "reinstate": ("suspended",)}
    if action not in allowed:
        raise DomainError(_l("Unknown action."))
    if merchant.status not in allowed[action]:
        raise Conflict(_l("This merchant cannot be changed that way now."), code="invalid-transition")
    if action == "suspend" and len(reason) < 5:
        raise DomainError(_l("Give the reason for the suspension."), field="reason")
    merchant.status = "suspended" if action == "suspend" else "approved"
    merchant.status_reason = reason[:500] if action == "suspend" else ""
    merchant.status_changed_at = utcnow()
    session.flush()
    return merchant


def get_names_for(session: Session, merchant_id: int) -> tuple[str, str]:
    """A merchant's (Chinese, English) names, for messages written before their reader's language is known."""
    merchant = session.get(Merchant, merchant_id)
    return (merchant.name_zh, merchant.name_en) if merchant else ("", "")


# ---------------------------------------------------------------- joining the coalition

CREDIT_CODE_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # GB 32100-2015: no I, O, S, V, Z
CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def credit_code_check(code17: str) -> str:
    """The check character of a unified social credit code's first 17 characters."""
    total = sum(CREDIT_CODE_CHARS.index(c) * w for c, w in zip(code17, CREDIT_CODE_WEIGHTS))
    return CREDIT_CODE_CHARS[(31 - total % 31) % 31]


def valid_credit_code(code: str) -> bool:
    """A 统一社会信用代码: 18 characters of the code's alphabet, its last one the check character."""
    return (len(code) == 18 and all(c in CREDIT_CODE_CHARS for c in code) and credit_code_check(code[:17]) == code[17])


APPLICATION_FIELDS = ("name_zh", "name_en", "category", "credit_code", "contact_name", "phone", "email", "address",
                      "opening_hours", "green_statement")


def application_for(session: Session, user) -> MerchantApplication | None:
    """The user's newest application, if they made one."""
    return session.scalar(select(MerchantApplication).where(MerchantApplication.applicant_id == user.id)
                          .order_by(MerchantApplication.id.desc()).limit(1))


def _clean(fields: dict) -> dict:
    data = {k: " ".join(str(fields.get(k) or "").split()) for k in APPLICATION_FIELDS}
    data["credit_code"] = data["credit_code"].upper().replace(" ", "")
    data["green_statement"] = str(fields.get("green_statement") or "").strip()[:1000]
    return data


LOGO_SIZES = {"small": 160, "large": 480}


def _store_logo(data: bytes | None, media_root: str | None, folder: str) -> str | None:
    return store_image(data, media_root, folder, LOGO_SIZES)[0] if data else None


def apply(session: Session, user, fields: dict, now=None, logo: bytes | None = None,
          media_root: str | None = None) -> MerchantApplication:
    """A signed-in member applies for their business (or, asked for more, sends it again), with a
    logo if they have one (a picture checked by its content; sending again without one keeps the last)."""
    now = now or utcnow()
    if user is None or user.role != "member":
        raise DomainError(_l("Apply with a member account: it becomes the merchant's owner account."),
                          code="not-a-member")
    data = _clean(fields)
    if not valid_credit_code(data["credit_code"]):
        raise DomainError(_l("This unified social credit code is not valid: check its 18 characters."),
                          code="credit-code", field="credit_code")
    taken = session.scalar(select(Merchant.id).where(Merchant.credit_code == data["credit_code"]))
    other = session.scalar(select(MerchantApplication.id).where(
        MerchantApplication.credit_code == data["credit_code"], MerchantApplication.applicant_id != user.id,
        MerchantApplication.status.in_(("pending", "needs_info"))))
    if taken or other:
        raise Conflict(_l("A business with this credit code has already joined or applied."), code="credit-code-taken")
    current = application_for(session, user)
    if current is not None and current.status == "pending":
        raise Conflict(_l("Your application is being reviewed; you will hear from us."), code="already-applied")
    if current is not None and current.status == "approved":
        raise Conflict(_l("Your business has already joined."), code="already-joined")
    if current is not None and current.status == "needs_info":
        row = current
    else:
        row = MerchantApplication(applicant_id=user.id, created_at=now)
        session.add(row)
    for key, value in data.items():
        setattr(row, key, value)
    row.logo = _store_logo(logo, media_root, f"logos/applicants/{user.id}") or row.logo
    row.status, row.reason, row.updated_at = "pending", "", now
    session.flush()
    return row


def applications(session: Session, status: str | None = None, limit: int = 100) -> list[MerchantApplication]:
    stmt = select(MerchantApplication).order_by(MerchantApplication.status != "pending", MerchantApplication.id.desc())
    if status:
        stmt = stmt.where(MerchantApplication.status == status)
    return list(session.scalars(stmt.limit(limit)))


def _unique_slug(session: Session, name_en: str) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", name_en.lower()).strip("-")[:50] or "merchant"
    slug, n = base, 1
    while session.scalar(select(Merchant.id).where(Merchant.slug == slug)) is not None:
        n += 1
        slug = f"{base}-{n}"
    return slug


def review(session: Session, operator, application_id: int, action: str, reason: str = "", now=None):
    """An operator approves an application (the merchant is created, approved, with the applicant as its
    owner), refuses it with a reason, or asks for more information (the applicant edits and sends it again)."""
    now = now or utcnow()
    if operator is None or not operator.is_operator:
        raise NotFound(_l("Not found."))
    row = lock(session, MerchantApplication, [application_id]).get(application_id)
    if row is None:
        raise NotFound(_l("No such application."))
    if action not in ("approve", "refuse", "ask"):
        raise DomainError(_l("Unknown action."))
    if row.status != "pending":
        raise Conflict(_l("This application is not waiting for a review."), code="invalid-transition")
    reason = (reason or "").strip()[:500]
    if action in ("refuse", "ask") and len(reason) < 5:
        raise DomainError(_l("Say why, so that the applicant knows what to do."), field="reason")
    if action == "approve":
        if session.scalar(select(Merchant.id).where(Merchant.credit_code == row.credit_code)):
            raise Conflict(_l("A business with this credit code has already joined or applied."),
                           code="credit-code-taken")
        merchant = create_merchant(session, slug=_unique_slug(session, row.name_en), name_zh=row.name_zh,
                                   name_en=row.name_en, category=row.category, status="approved")
        merchant.address, merchant.opening_hours, merchant.phone = row.address, row.opening_hours, row.phone
        merchant.green_statement, merchant.credit_code, merchant.status_changed_at = (row.green_statement,
                                                                                        row.credit_code, now)
        merchant.logo = row.logo
        row.merchant_id = merchant.id  # the account area makes the applicant its owner (the event below)
    row.status = {"approve": "approved", "refuse": "refused", "ask": "needs_info"}[action]
    row.reason = "" if action == "approve" else reason
    row.reviewed_by, row.decided_at, row.updated_at = operator.id, now, now
    session.flush()
    events.merchant_application_decided.send(session, application_id=row.id, applicant_id=row.applicant_id,
                                             outcome=row.status, reason=row.reason, name_zh=row.name_zh,
                                             name_en=row.name_en, merchant_id=row.merchant_id)
    return row


def directory(session: Session, category: str | None = None) -> list[Merchant]:
    """The approved merchants, by name (the public directory)."""
    stmt = select(Merchant).where(Merchant.status == "approved").order_by(Merchant.category, Merchant.name_en)
    if category:
        stmt = stmt.where(Merchant.category == category)
    return list(session.scalars(stmt))


def get_public_for(session: Session, slug: str) -> Merchant:
    """An approved merchant's public page; a pending or suspended one is not found."""
    merchant = get_by_slug(session, (slug or "")[:60])
    if merchant is None or merchant.status != "approved":
        raise NotFound(_l("No such merchant."))
    return merchant


def set_logo(session: Session, actor, merchant: Merchant, data: bytes, media_root: str) -> Merchant:
    """The merchant's owner or a manager replaces the logo on its page."""
    if (actor is None or actor.role != "merchant" or actor.merchant_id != merchant.id
            or actor.merchant_role not in ("owner", "manager")):
        raise NotFound(_l("Not found."))
    if not data:
        raise DomainError(_l("Choose an image file."), code="image-type", field="image")
    merchant = lock(session, Merchant, [merchant.id])[merchant.id]
    merchant.logo = _store_logo(data, media_root, f"logos/merchants/{merchant.id}")
    session.flush()
    return merchant


# ---------------------------------------------------------------- a merchant's terms

@dataclass(frozen=True)
class Terms:
    """What a merchant pays and is paid, and what it accepts: its own terms, else the programme's."""

    issuance_fee_fen_per_point: int
    reimbursement_fen_per_point: int
    bill_max_share_percent: int
    accepts_game_coupons: bool
    settlement_cycle: str
    own: frozenset  # the terms set for this merchant (the rest are the programme's defaults)


def terms_of(session: Session, merchant: Merchant) -> Terms:
    settings = settings_of(session)
    own = {name for name in ("issuance_fee_fen_per_point", "reimbursement_fen_per_point", "bill_max_share_percent")
           if getattr(merchant, name) is not None}
    pick = lambda name, default: getattr(merchant, name) if getattr(merchant, name) is not None else default
    return Terms(pick("issuance_fee_fen_per_point", settings.issuance_fee_fen_per_point),
                 pick("reimbursement_fen_per_point", settings.redemption_value_fen_per_point),
                 pick("bill_max_share_percent", settings.bill_max_share_percent),
                 merchant.accepts_game_coupons, merchant.settlement_cycle or "monthly", frozenset(own))


def get_for_operator(session: Session, operator, merchant_id: int) -> Merchant:
    if operator is None or not operator.is_operator:
        raise NotFound(_l("Not found."))
    merchant = session.get(Merchant, merchant_id)
    if merchant is None:
        raise NotFound(_l("No such merchant."))
    return merchant


def set_terms(session: Session, operator, merchant_id: int, *, issuance_fee, reimbursement, bill_share,
              accepts_game_coupons: bool, settlement_cycle: str) -> Merchant:
    """An operator sets a merchant's terms; a blank figure means the programme's default."""
    if operator is None or not operator.is_operator:
        raise NotFound(_l("Not found."))
    merchant = lock(session, Merchant, [merchant_id]).get(merchant_id)
    if merchant is None:
        raise NotFound(_l("No such merchant."))
    for value, low, high, field, message in (
            (issuance_fee, 0, 100, "issuance_fee", _l("The issuance fee is 0 to 100 fen a point.")),
            (reimbursement, 0, 100, "reimbursement", _l("The reimbursement is 0 to 100 fen a point.")),
            (bill_share, 0, 100, "bill_share", _l("The share of a bill payable with points is 0 to 100 %."))):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high):
            raise DomainError(message, field=field)
    if settlement_cycle not in ("weekly", "monthly"):
        raise DomainError(_l("Settle weekly or monthly."), field="settlement_cycle")
    merchant.issuance_fee_fen_per_point, merchant.reimbursement_fen_per_point = issuance_fee, reimbursement
    merchant.bill_max_share_percent, merchant.accepts_game_coupons = bill_share, bool(accepts_game_coupons)
    merchant.settlement_cycle = settlement_cycle
    session.flush()
    return merchant
