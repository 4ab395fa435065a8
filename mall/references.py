"""What a ledger row was for, in words a member reads, and the page that shows it.

Each area that posts transfers with a reference (``Transfer.ref_type`` / ``ref_id``) can name what it
refers to: an order by the items it redeemed, a purchase by its amount, a donation by its project. The
statement (``mall.points.describe``) asks the area registered for a reference type, once per page, and
never shows a raw token or id. Areas register from the app factory, so the statement imports none of
them."""
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Reference:
    words: str  # e.g. "有机大米 5kg 等 2 件", in the page's language
    endpoint: str | None = None  # the page that shows it, for url_for
    values: dict = field(default_factory=dict)  # that page's URL values
