"""The satisfaction survey and moderated reviews of fulfilled orders; their tasks pay from the game
budget. Callers own the transaction; functions flush only.
"""
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from mall.account.models import User
from mall.checkout import service as checkout
from mall.clock import utcnow
from mall.engage.budget import budget_account, require_member, require_operator
from mall.engage.models import Review, SurveyAnswer
from mall.engage.tasks import try_complete
from mall.errors import Conflict, DomainError, NotFound
from mall.ledger import service as ledger
from mall.validation import is_whole

SURVEY = "satisfaction-2026"


# ---------------------------------------------------------------- survey

def answer_survey(session: Session, member: User, score, comment: str) -> SurveyAnswer:
    require_member(member)
    if not is_whole(score, 0, 10):
        raise DomainError(_l("Choose a score from 0 to 10."), code="invalid-score")
    ledger.lock_accounts(session, [budget_account(session).id, ledger.member_account(session, member.id).id])
    if session.scalar(select(SurveyAnswer.id).where(SurveyAnswer.member_id == member.id,
                                                    SurveyAnswer.survey == SURVEY)):
        raise Conflict(_l("You have already answered this survey. Thank you!"), code="already-done")
    answer = SurveyAnswer(member_id=member.id, survey=SURVEY, score=score, comment=(comment or "").strip()[:500])
    session.add(answer)
    session.flush()
    try_complete(session, member, "survey", "once")
    return answer


def survey_answered(session: Session, member: User) -> bool:
    return session.scalar(select(SurveyAnswer.id).where(SurveyAnswer.member_id == member.id,
                                                        SurveyAnswer.survey == SURVEY)) is not None


# ---------------------------------------------------------------- reviews

def reviewable_orders(session: Session, member: User, limit: int = 20):
    """The member's fulfilled orders not yet reviewed, newest first."""
    reviewed = select(Review.order_id).where(Review.member_id == member.id)
    return checkout.fulfilled_orders_of(session, member.id, excluding=reviewed, limit=limit)


def submit_review(session: Session, member: User, order_id: int, rating, body: str) -> Review:
    """Review a fulfilled order (one review per order); it waits for moderation."""
    require_member(member)
    order = checkout.get_order_for(session, member, order_id)
    if order.status != "fulfilled":
        raise DomainError(_l("You can review an order once it has been fulfilled."), code="not-fulfilled")
    if not is_whole(rating, 1, 5):
        raise DomainError(_l("Choose a rating from 1 to 5 stars."), code="invalid-rating")
    body = (body or "").strip()
    if not 5 <= len(body) <= 1000:
        raise DomainError(_l("Write 5 to 1,000 characters."), code="invalid-body")
    ledger.lock_accounts(session, [budget_account(session).id])
    if session.scalar(select(Review.id).where(Review.order_id == order.id)):
        raise Conflict(_l("This order has already been reviewed."), code="already-reviewed")
    review = Review(order_id=order.id, member_id=member.id, merchant_id=order.merchant_id, rating=rating, body=body)
    session.add(review)
    session.flush()
    return review


def listing_reviews(session: Session, listing_id: int, limit: int = 10) -> list[Review]:
    """Approved reviews of orders that contained the listing, newest first (shown without names)."""
    return session.scalars(select(Review).where(Review.status == "approved",
                                                Review.order_id.in_(checkout.order_ids_with(listing_id)))
                           .order_by(Review.id.desc()).limit(limit)).all()


def member_reviews(session: Session, member: User, limit: int = 20) -> list[Review]:
    return session.scalars(select(Review).where(Review.member_id == member.id)
                           .order_by(Review.id.desc()).limit(limit)).all()


def pending_reviews(session: Session, limit: int = 50) -> list[Review]:
    return session.scalars(select(Review).where(Review.status == "pending").order_by(Review.id).limit(limit)).all()


def moderate_review(session: Session, operator: User, review_id: int, approve: bool) -> Review:
    """Approve (the review task then pays, once per order) or reject a pending review."""
    require_operator(operator)
    ledger.lock_accounts(session, [budget_account(session).id])
    review = session.get(Review, review_id)
    if review is None:
        raise NotFound(_l("No such review."))
    if review.status != "pending":
        raise Conflict(_l("This review has already been moderated."), code="moderated")
    review.status = "approved" if approve else "rejected"
    review.moderated_by, review.moderated_at = operator.id, utcnow()
    session.flush()
    if approve:
        try_complete(session, session.get(User, review.member_id), "review", f"order:{review.order_id}")
    return review


# ---------------------------------------------------------------- personal data

def forget(session: Session, member_id: int) -> None:
    """On account deletion: the member's own words go (review texts, survey comments); a pending review
    is rejected."""
    for review in session.scalars(select(Review).where(Review.member_id == member_id)):
        review.body = ""
        if review.status == "pending":
            review.status = "rejected"
    for answer in session.scalars(select(SurveyAnswer).where(SurveyAnswer.member_id == member_id)):
        answer.comment = ""
    session.flush()
