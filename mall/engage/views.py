"""Rewards pages: tasks and check-in, survey, reviews, badges, games; and the operator's console."""
import math
import secrets

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required

from mall.account.forms import EmptyForm
from mall.edge import back_to, flash_and_redirect, fragment_or, message_of, on_refusal, run, submitted
from mall.engage import badges as badge_service
from mall.engage import budget, games as game_service, reviews as review_service, tasks as task_service
from mall.engage.forms import CouponForm, FundForm, GameForm, PlayForm, ReviewForm, SurveyForm, TaskForm
from mall.extensions import db
from mall.guards import operator_only, staff_only
from mall.ledger import service as ledger
from mall.web import format_fen

engage = Blueprint("engage", __name__)


def task_label(code: str) -> str:
    return {"profile": _("Complete your profile"), "first_green_purchase": _("First green purchase"),
            "review": _("Review a redeemed item"), "survey": _("Satisfaction survey"),
            "checkin": _("Daily check-in")}.get(code, code)


def task_help(code: str) -> str:
    return {"profile": _("Add your mobile number and birthday on your profile page."),
            "first_green_purchase": _("Buy a green item at a participating merchant and show your member code."),
            "review": _("Review an order once it is fulfilled; the reward is paid when the review is approved."),
            "survey": _("Tell us how we are doing: one question and an optional comment."),
            "checkin": _("Check in once a day; keep your streak going.")}.get(code, "")


def badge_label(code: str) -> str:
    return {"first_redemption": _("First redemption"), "green_10": _("10 green purchases"),
            "first_donation": _("First donation"), "family_founder": _("Family founder"),
            "streak_7": _("7-day check-in streak"), "co2_100kg": _("100 kg CO2e saved")}.get(code, code)


def badge_names(codes) -> str:
    return ("、" if str(get_locale()).startswith("zh") else ", ").join(badge_label(c) for c in codes)


def set_label(code: str) -> str:
    return {"green_starter": _("Green starter"), "community": _("Community builder")}.get(code, code)


def percent(value) -> str:
    """A probability as a percentage with up to two decimals, e.g. 0.25 → 25%."""
    text = f"{float(value) * 100:.2f}".rstrip("0").rstrip(".")
    return f"{text}%"


def wheel(game, won_prize_id=None, radius=100):
    """Pie segments of a wheel, one per prize, sized by its chance."""
    total = sum(p.weight for p in game.prizes)
    angle, segments = -math.pi / 2, []
    for index, prize in enumerate(game.prizes):
        sweep = 2 * math.pi * prize.weight / total
        end = angle + sweep
        x1, y1 = radius * math.cos(angle), radius * math.sin(angle)
        x2, y2 = radius * math.cos(end), radius * math.sin(end)
        mid = angle + sweep / 2
        large = 1 if sweep > math.pi else 0
        segments.append({"d": f"M0,0 L{x1:.2f},{y1:.2f} A{radius},{radius} 0 {large} 1 {x2:.2f},{y2:.2f} Z",
                         "tx": round(radius * 0.62 * math.cos(mid), 1), "ty": round(radius * 0.62 * math.sin(mid), 1),
                         "prize": prize, "tone": index % 6, "won": prize.id == won_prize_id,
                         "labelled": prize.weight * 100 >= total * 6})  # smaller slices: see the odds table
        angle = end
    return segments


@engage.record_once
def _helpers(state):
    state.app.jinja_env.globals.update(
        task_label=task_label, task_help=task_help, badge_label=badge_label, set_label=set_label,
        badge_names=badge_names,
        game_state=lambda game, balance=None: game_service.state(db.session, game, balance),
        listing_reviews=lambda listing_id: review_service.listing_reviews(db.session, listing_id))
    state.app.jinja_env.filters["percent"] = percent


def _members_only():
    if current_user.role != "member":
        abort(404)


# ---------------------------------------------------------------- tasks and check-in

@engage.route("/rewards")
@login_required
def index():
    """Tasks with their rewards and limits, today's check-in and streak, free plays and coupons."""
    _members_only()
    streak, checked_in = task_service.checkin_status(db.session, current_user)
    return render_template(
        "engage/index.html", tasks=task_service.tasks(db.session, active_only=True),
        done=task_service.completions(db.session, current_user), streak=streak,
        checked_in=checked_in, free_plays=game_service.free_plays(db.session, current_user),
        coupons=game_service.coupons(db.session, current_user), form=EmptyForm(),
        survey_done=review_service.survey_answered(db.session, current_user),
        budget=budget.budget_balance(db.session))


@engage.route("/rewards/check-in", methods=["POST"])
@login_required
@on_refusal(back_to("engage.index"))
def check_in():
    """Check in for today."""
    _members_only()
    submitted(EmptyForm())
    row = run(task_service.check_in, db.session, current_user)
    flash(_("Checked in: a %(num)s-day streak!", num=row.streak), "success")
    return redirect(url_for("engage.index"), code=303)


@engage.route("/rewards/tasks/<code>/claim", methods=["POST"])
@login_required
@on_refusal(back_to("engage.index"))
def claim(code):
    """Check a once-only task against the member's records and pay it."""
    _members_only()
    submitted(EmptyForm())
    done = run(task_service.claim, db.session, current_user, code)
    flash(_("Task complete: %(num)s points added.", num=done.points), "success")
    return redirect(url_for("engage.index"), code=303)


def _survey_page(form, status=200):
    return render_template("engage/survey.html", form=form,
                           answered=review_service.survey_answered(db.session, current_user)), status


def _survey_refused(err):
    """The survey again, with the refusal under the score."""
    form = SurveyForm()
    form.score.errors = [message_of(err)]
    return _survey_page(form, 422)


@engage.route("/rewards/survey", methods=["GET", "POST"])
@login_required
@on_refusal(_survey_refused)
def survey():
    """The satisfaction survey (once per member)."""
    _members_only()
    form = SurveyForm()
    if not form.validate_on_submit():
        return _survey_page(form, 422 if form.errors else 200)
    run(review_service.answer_survey, db.session, current_user, int(form.score.data), form.comment.data or "")
    flash(_("Thank you for answering!"), "success")
    return redirect(url_for("engage.index"), code=303)


def _reviews_page(form, status=200, **extra):
    return render_template("engage/reviews.html", orders=review_service.reviewable_orders(db.session, current_user),
                           mine=review_service.member_reviews(db.session, current_user), form=form,
                           **extra), status


def _review_refused(err, order_id):
    """The reviews page again, with the refusal above the order's form."""
    form = ReviewForm()
    form.form_errors.append(message_of(err))
    return _reviews_page(form, 422, form_order=order_id)


@engage.route("/rewards/reviews", methods=["GET"])
@login_required
def reviews():
    """Fulfilled orders waiting for a review, and the member's reviews with their moderation status."""
    _members_only()
    return _reviews_page(ReviewForm())


@engage.route("/rewards/reviews/<int:order_id>", methods=["POST"])
@login_required
@on_refusal(_review_refused)
def review(order_id):
    """Submit a review of one fulfilled order."""
    _members_only()
    form = ReviewForm()
    if not form.validate_on_submit():
        return _reviews_page(form, 422, form_order=order_id)
    run(review_service.submit_review, db.session, current_user, order_id, int(form.rating.data), form.body.data)
    flash(_("Thank you! Your review will appear once it is approved."), "success")
    return redirect(url_for("engage.reviews"), code=303)


# ---------------------------------------------------------------- badges

@engage.route("/rewards/badges")
@login_required
def badges():
    """The badge collection with progress bars, and the sets' published rewards."""
    _members_only()
    collection = badge_service.badges(db.session, current_user)
    return render_template("engage/badges.html", badges=collection, complete=badge_service.complete_sets(collection),
                           sets=badge_service.BADGE_SETS, claimed=badge_service.claimed_sets(db.session, current_user),
                           form=EmptyForm())


@engage.route("/rewards/badges/<set_code>/claim", methods=["POST"])
@login_required
@on_refusal(back_to("engage.badges"))
def claim_set(set_code):
    """Collect a completed set's reward."""
    _members_only()
    submitted(EmptyForm())
    reward = run(badge_service.claim_set, db.session, current_user, set_code)
    flash(_("Set complete: %(num)s points added.", num=reward.points), "success")
    return redirect(url_for("engage.badges"), code=303)


# ---------------------------------------------------------------- games

@engage.route("/games")
def games():
    """Every game with its cost, odds and expected value, open to anyone to read."""
    return render_template("engage/games.html", games=game_service.games(db.session),
                           budget=budget.budget_balance(db.session))


def _play_form() -> PlayForm:
    form = PlayForm()
    form.token.data = secrets.token_urlsafe(16)  # a fresh token: each shown form is one play
    return form


def game_context(game, **extra) -> dict:
    member = current_user.is_authenticated and current_user.role == "member"
    counts, plays = game_service.observed(db.session, game)
    context = {"game": game, "odds": game_service.odds(game), "ev": game_service.expected_points(game),
               "coupon_ev": game_service.expected_coupon_fen(game), "max_prize": game_service.max_prize(game),
               "state": game_service.state(db.session, game), "observed": counts, "observed_total": plays,
               "member": member, "form": _play_form(), "played": None, "error": None,
               "today": game_service.plays_today(db.session, current_user, game) if member else 0,
               "free_plays": game_service.free_plays(db.session, current_user) if member else 0,
               "balance": ledger.member_balance(db.session, current_user.id) if member else None}
    context.update(extra)
    context["segments"] = wheel(game, context["played"].play.prize_id if context["played"] else None)
    return context


def _panel(game, **extra):
    """The game's panel alone (an HTMX play's answer), with the header balance swapped out of band."""
    return render_template("engage/_panel.html", **game_context(game, **extra),
                           mine=game_service.member_plays_of(db.session, current_user, game.id), oob_balance=True)


def _play_refused(err, game_id):
    """HTMX: the panel with the refusal; a plain POST: the refusal flashed on the game's page."""
    return fragment_or(lambda: _panel(game_service.get_game(db.session, game_id), error=message_of(err)),
                       lambda: flash_and_redirect(err, url_for("engage.game", game_id=game_id)))


@engage.route("/games/<int:game_id>")
def game(game_id):
    """A game: its published odds and expected value, the play button, the member's plays."""
    item = game_service.get_game(db.session, game_id)
    return render_template("engage/game.html", **game_context(item),
                           mine=game_service.member_plays_of(db.session, current_user, item.id))


@engage.route("/games/<int:game_id>/plays")
def game_plays(game_id):
    """The public draw log of a game: play number, time, number drawn and outcome; never who played."""
    item = game_service.get_game(db.session, game_id)
    return render_template("engage/plays.html", game=item,
                           plays=game_service.recent_plays(db.session, item, limit=100))


@engage.route("/games/<int:game_id>/play", methods=["POST"])
@login_required
@on_refusal(_play_refused)
def play(game_id):
    """Play once: HTMX gets the panel with the result, a plain POST a 303 to the play's page."""
    item = game_service.get_game(db.session, game_id)
    form = submitted(PlayForm())
    played = run(game_service.play, db.session, current_user, item.id, token=form.token.data or "",
                 free=form.free.data == "1")
    return fragment_or(lambda: _panel(item, played=played),
                       lambda: redirect(url_for("engage.play_result", play_id=played.play.id), code=303))


@engage.route("/games/plays/<int:play_id>")
@login_required
def play_result(play_id):
    """One of the member's plays: outcome, time and the number drawn (another member's is absent)."""
    row = game_service.get_play_for(db.session, current_user, play_id)
    return render_template("engage/game.html", **game_context(row.game, played=game_service.played(db.session, row)),
                           mine=game_service.member_plays_of(db.session, current_user, row.game_id))


def _coupon_page(form, status=200):
    return render_template("engage/merchant_coupons.html", form=form), status


def _coupon_refused(err):
    """The coupon form again, with the refusal under the code."""
    form = CouponForm()
    form.code.errors = [message_of(err)]
    return _coupon_page(form, 422)


@engage.route("/merchant/game-coupons", methods=["GET", "POST"])
@staff_only
@on_refusal(_coupon_refused)
def accept_coupon(shop):
    """Merchant staff accept a coupon a member won in a game; each code works once."""
    form = CouponForm()
    if not form.validate_on_submit():
        return _coupon_page(form, 422 if form.errors else 200)
    coupon = run(game_service.accept_coupon, db.session, shop, form.code.data)
    flash(_("Coupon %(code)s accepted: %(value)s off.", code=coupon.code, value=format_fen(coupon.value_fen)),
          "success")
    return redirect(url_for("engage.accept_coupon"), code=303)


# ---------------------------------------------------------------- operator console

@engage.route("/admin/engage", methods=["GET"])
@operator_only
def admin():
    """The game budget, tasks, games, reviews to moderate and the latest plays."""
    return _admin_page(FundForm())


def _admin_page(fund_form, status=200):
    fund_form.token.data = fund_form.token.data or secrets.token_urlsafe(16)
    tasks = task_service.tasks(db.session)
    task_forms = {t.id: TaskForm(prefix=f"t{t.id}", obj=t) for t in tasks}
    return render_template("engage/admin.html", budget=budget.budget_balance(db.session),
                           history=budget.budget_history(db.session), fund_form=fund_form,
                           tasks=tasks, task_forms=task_forms, games=game_service.games(db.session),
                           reviews=review_service.pending_reviews(db.session),
                           plays=game_service.recent_plays(db.session), form=EmptyForm()), status


def _fund_refused(err):
    """The console again, with the refusal under the points."""
    form = FundForm()
    form.points.errors = [message_of(err)]
    return _admin_page(form, 422)


@engage.route("/admin/engage/fund", methods=["POST"])
@operator_only
@on_refusal(_fund_refused)
def fund():
    """Fund the game budget from the issuance account, with a memo."""
    form = FundForm()
    if not form.validate_on_submit():
        return _admin_page(form, 422)
    run(budget.fund_budget, db.session, current_user, form.points.data, form.memo.data, form.token.data or "")
    flash(_("The game budget has been funded."), "success")
    return redirect(url_for("engage.admin"), code=303)


@engage.route("/admin/engage/tasks/<int:task_id>", methods=["POST"])
@operator_only
@on_refusal(back_to("engage.admin"))
def update_task(task_id):
    """Change a task's reward, limit or whether it runs."""
    form = TaskForm(prefix=f"t{task_id}")
    if not form.validate_on_submit():
        flash(_("Check the task's numbers."), "error")
        return redirect(url_for("engage.admin"), code=303)
    run(task_service.update_task, db.session, current_user, task_id, points=form.points.data,
        free_plays=form.free_plays.data, member_limit=form.member_limit.data, active=form.active.data)
    flash(_("Task saved."), "success")
    return redirect(url_for("engage.admin"), code=303)


def _draft(form: GameForm) -> game_service.GameDraft:
    prizes = [game_service.PrizeDraft(kind=row.kind.data, weight=row.weight.data, points=row.points.data or 0,
                                      coupon_value_fen=(row.coupon_yuan.data or 0) * 100,
                                      label_zh=row.label_zh.data or "", label_en=row.label_en.data or "")
              for row in form.prizes if row.weight.data]
    return game_service.GameDraft(slug=(form.slug.data or "").strip().lower(), kind=form.kind.data,
                                  name_zh=form.name_zh.data, name_en=form.name_en.data,
                                  cost_points=form.cost_points.data, daily_limit=form.daily_limit.data, prizes=prizes)


def _game_form_page(form, game, error=None):
    status = 422 if (form.errors or error) else 200
    return render_template("engage/admin_game.html", form=form, game=game, error=error), status


def _game_refused(err, game_id):
    """The game form again, with the refusal above it."""
    game = game_service.get_game(db.session, game_id) if game_id else None
    return _game_form_page(GameForm(), game, error=message_of(err))


@engage.route("/admin/engage/games/new", methods=["GET", "POST"], defaults={"game_id": None})
@engage.route("/admin/engage/games/<int:game_id>/edit", methods=["GET", "POST"])
@operator_only
@on_refusal(_game_refused)
def edit_game(game_id):
    """Create a game, or change one that is paused and has never been played."""
    game = game_service.get_game(db.session, game_id) if game_id else None
    form = GameForm()
    if request.method == "GET" and game is not None:
        form = GameForm(data={"slug": game.slug, "kind": game.kind, "name_zh": game.name_zh, "name_en": game.name_en,
                              "cost_points": game.cost_points, "daily_limit": game.daily_limit,
                              "prizes": [{"kind": p.kind, "weight": p.weight, "points": p.points,
                                          "coupon_yuan": p.coupon_value_fen // 100, "label_zh": p.label_zh,
                                          "label_en": p.label_en} for p in game.prizes]})
    if not form.validate_on_submit():
        return _game_form_page(form, game)
    saved = run(game_service.save_game, db.session, current_user, game_id, _draft(form))
    flash(_("Game saved. It opens when you open it; its odds and expected value are published."), "success")
    return redirect(url_for("engage.game", game_id=saved.id), code=303)


@engage.route("/admin/engage/games/<int:game_id>/<any(open, paused):status>", methods=["POST"])
@operator_only
@on_refusal(back_to("engage.admin"))
def game_status(game_id, status):
    """Open or pause a game."""
    submitted(EmptyForm())
    run(game_service.set_game_status, db.session, current_user, game_id, status)
    return redirect(url_for("engage.admin"), code=303)


@engage.route("/admin/engage/reviews/<int:review_id>/<any(approve, reject):decision>", methods=["POST"])
@operator_only
@on_refusal(back_to("engage.admin"))
def moderate(review_id, decision):
    """Approve or reject a pending review."""
    submitted(EmptyForm())
    run(review_service.moderate_review, db.session, current_user, review_id, decision == "approve")
    return redirect(url_for("engage.admin"), code=303)
