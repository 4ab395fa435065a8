from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, IntegerField, SearchField, SelectField
from wtforms.validators import NumberRange, Optional

from mall.catalog.service import CATEGORY_GROUPS, CatalogQuery
from mall.forms import MallForm
from mall.labels import LISTING_KINDS

GROUP_LABELS = {"daily": _l("Daily life"), "home": _l("Home & living"), "travel": _l("Travel"),
                "digital": _l("Digital"), "services": _l("Services")}
SORT_LABELS = [("relevance", _l("Best match")), ("popular", _l("Popular")), ("newest", _l("Newest")),
               ("points_asc", _l("Points: low to high")), ("points_desc", _l("Points: high to low"))]


class CatalogFilterForm(MallForm):
    """The catalog's filters, read from the query string so every view is a shareable URL."""

    class Meta:
        csrf = False

    q = SearchField(_l("Search"), validators=[Optional()])
    kind = SelectField(_l("Kind"), choices=[("", _l("All kinds"))] + list(LISTING_KINDS.items()),
                       validators=[Optional()], default="")
    group = SelectField(_l("Category"), choices=[("", _l("All categories"))] + list(GROUP_LABELS.items()),
                        validators=[Optional()], default="")
    min_points = IntegerField(_l("Points from"), validators=[Optional(), NumberRange(0, 10**8)])
    max_points = IntegerField(_l("Points to"), validators=[Optional(), NumberRange(0, 10**8)])
    affordable = BooleanField(_l("I can afford it now"))
    with_pool = BooleanField(_l("Count the family pool I may spend"))
    green = BooleanField(_l("Green only"))
    in_stock = BooleanField(_l("In stock"))
    merchant = IntegerField(validators=[Optional(), NumberRange(1, 2**31 - 1)])
    sort = SelectField(_l("Sort"), choices=SORT_LABELS, default="popular")
    page = IntegerField(validators=[Optional(), NumberRange(1, 10**6)], default=1)

    def to_query(self) -> CatalogQuery:
        valid = self.validate()
        def value(field):
            return field.data if valid or not field.errors else None
        return CatalogQuery(
            q=(value(self.q) or "").strip(), kind=self.kind.data or None,
            group=self.group.data if self.group.data in CATEGORY_GROUPS else None,
            merchant=value(self.merchant), min_points=value(self.min_points), max_points=value(self.max_points),
            affordable=bool(self.affordable.data), with_pool=bool(self.with_pool.data), green=bool(self.green.data), in_stock=bool(self.in_stock.data),
            sort=self._sort(), page=value(self.page) or 1)

    def _sort(self) -> str:
        """The sort asked for; by default the best match of a search, else the most popular first."""
        if not (self.sort.raw_data and self.sort.data) or self.sort.data == "relevance":
            self.sort.data = "relevance" if (self.q.data or "").strip() else "popular"
        return self.sort.data
