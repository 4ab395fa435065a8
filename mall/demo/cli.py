"""`flask seed-demo`: a demo programme to explore. Safe to run again."""
import random
from pathlib import Path
from datetime import datetime, time, timedelta

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import func, insert, select

from mall.account import service as accounts
from mall.catalog import search
from mall.catalog.models import Listing, ServiceSlot, StayNight
from mall.catalog import service as catalog
from mall.charity import service as charity
from mall.charity.demo import PROJECTS as CHARITY_PROJECTS, seed_charity
from mall.charity.models import Project
from mall.coalition.models import Merchant
from mall.media import store_image
from mall.settings import settings_of
from mall.clock import SHANGHAI, utcnow
from mall.demo.data import (DEMO_CAMPAIGNS, DEMO_PASSWORD, LISTINGS, MEMBERS, MERCHANT_PROFILES, MERCHANTS,
                            PURCHASES)
from mall.edge import command, run, transaction
from mall.engage import demo as engage_demo
from mall.extensions import db
from mall.ledger import service as ledger
from mall.messages.demo import seed_messages
from mall.coalition import service as merchants
from mall.rules import service as rules
from mall.api import service as api_service
from mall.rules import channels, merchant_campaigns
from mall.rules.models import EarningChannel, Purchase, RuleSet


PICTURES = Path(__file__).parent / "pictures"  # made by scripts/demo_pictures.py (Twemoji, CC-BY 4.0)


def _demo_pictures(session) -> None:
    """A picture for every demo listing, merchant logo and charity project that has none yet, through the
    same upload pipeline (check, resize, WebP) as a merchant's or operator's own."""
    root = settings_of(session).media_root
    shops = {m.slug: m for m in session.scalars(select(Merchant))}
    for number, spec in enumerate(LISTINGS, start=1):
        slug, title_zh = spec[0], spec[3]
        listing = session.scalar(select(Listing).where(Listing.merchant_id == shops[slug].id,
                                                       Listing.title_zh == title_zh))
        picture = PICTURES / f"listing-{number}.webp"
        if listing is not None and listing.cover_image is None and picture.exists():
            catalog.add_image(session, shops[slug], listing.id, picture.read_bytes(), root)
    for slug, shop in shops.items():
        picture = PICTURES / f"merchant-{slug}.webp"
        if shop.logo is None and picture.exists():
            shop.logo = store_image(picture.read_bytes(), root, f"logos/merchants/{shop.id}", merchants.LOGO_SIZES)[0]
    operator = accounts.find_by_email(session, "operator@demo.test")
    for number, title_zh in enumerate((p["title_zh"] for p in CHARITY_PROJECTS), start=1):
        project = session.scalar(select(Project).where(Project.title_zh == title_zh))
        picture = PICTURES / f"project-{number}.webp"
        if project is not None and project.cover_image is None and picture.exists():
            charity.add_project_image(session, operator, project.id, picture.read_bytes(), root)
    session.flush()


@click.command("seed-demo")
@with_appcontext
@click.option("--listings", "extra", type=click.IntRange(0, 1_000_000), default=0,
              help="Also add this many generated listings (for scale tests).")
@command
def seed_demo(extra):
    """Create demo merchants, a bilingual catalog, members with points and staff accounts."""
    session = db.session
    with transaction():
        ledger.ensure_system_accounts(session)
        by_slug = {}
        for slug, name_zh, name_en, category in MERCHANTS:
            by_slug[slug] = merchants.get_by_slug(session, slug) or merchants.create_merchant(
                session, slug=slug, name_zh=name_zh, name_en=name_en, category=category, status="approved")
        for slug, (address, hours, green) in MERCHANT_PROFILES.items():
            shop = by_slug[slug]
            if not shop.address:
                shop.address, shop.opening_hours, shop.green_statement = address, hours, green
        if merchants.get_by_slug(session, "qingfeng-bike") is None:  # an application for the console to review
            merchants.create_merchant(session, slug="qingfeng-bike", name_zh="青风单车维修", name_en="Qingfeng Bike Repair",
                                      category="services", status="pending")
        if not session.scalar(select(func.count(Listing.id)).where(Listing.merchant_id.in_(
                [m.id for m in by_slug.values()]))):
            for (slug, kind, category, tz, te, dz, de, points, cash, stock, green, co2) in LISTINGS:
                # a points + cash listing also offers a points-only price (100 points = ¥1)
                session.add(Listing(merchant_id=by_slug[slug].id, kind=kind, category=category,
                                    title_zh=tz, title_en=te, description_zh=dz, description_en=de,
                                    points_price=points + cash, mix_points=points if cash else None,
                                    cash_fen=cash, sort_points=points, stock=stock, green=green,
                                    co2e_g=co2, status="active", limit_per_member=5 if stock else None,
                                    cancel_hours=24 if kind in ("service", "stay") else 0,
                                    coupon_valid_days=30 if kind == "coupon" else None))
            session.flush()
            _demo_calendars(session, by_slug)
        staff = [("merchant@demo.test", "绿邻店长", "merchant", by_slug["lvlin-mart"].id),
                 ("cashier@demo.test", "绿邻收银员", "merchant", by_slug["lvlin-mart"].id),
                 ("operator@demo.test", "平台运营", "operator", None),
                 ("auditor@demo.test", "平台复核", "operator", None)]  # a second operator, for four-eyes approvals
        people = [(email, name, "member", None) for email, name in MEMBERS] + staff
        for email, name, role, merchant_id in people:
            if accounts.find_by_email(session, email) is None:
                accounts.register(session, email=email, password=DEMO_PASSWORD, display_name=name,
                                  role=role, merchant_id=merchant_id,
                                  merchant_role="cashier" if email.startswith("cashier@") else "owner")
        _publish_demo_rules(session)
        _demo_application(session)
        _demo_merchant_campaign(session, by_slug["lvlin-mart"])
        _demo_staff_invitation(session)
        keys = _demo_channels(session)
        engage_demo.prepare(session)
    now = utcnow()
    for email, history in PURCHASES.items():
        with transaction():  # a member's whole history, or none of it
            user = accounts.find_by_email(session, email)
            if session.scalar(select(Purchase.id).where(Purchase.member_id == user.id).limit(1)):
                continue
            for days_ago, slug, items in history:
                doc = {"member_code": user.member_code, "total_fen": sum(i[3] for i in items),
                       "occurred_at": (now - timedelta(days=days_ago)).isoformat(),
                       "items": [{"name": n, "category": c, "green": g, "quantity": 1, "amount_fen": a}
                                 for n, c, g, a in items]}
                rules.award_purchase(session, merchants.get_by_slug(session, slug), rules.parse_purchase(doc, now))
    seed_charity(session)
    run(_demo_pictures, session)
    engage_demo.seed_history(session)
    run(seed_messages, session, [email for email, _ in MEMBERS])
    if extra:
        add_generated_listings(extra, [m.id for m in by_slug.values()])
    run(ledger.seal_all, session)  # the demo's history in blocks, as a running sealer would have left it
    click.echo("Demo mall ready. Sign in with password %s as:" % DEMO_PASSWORD)
    for email, role in [("member@demo.test", "member"), ("merchant@demo.test", "merchant staff"),
                        ("operator@demo.test", "operator"), ("auditor@demo.test", "second operator")]:
        click.echo(f"  {role:15} {email}")
    for name, key in keys:
        click.echo(f"  channel {name}: API key {key} (POST /api/v1/channel-events)")
    click.echo("Start it with: flask --app app run   then open http://127.0.0.1:5000/")


WORDS = [("环保", "eco"), ("节能", "energy-saving"), ("有机", "organic"), ("再生", "recycled"),
         ("便携", "portable"), ("家庭装", "family-size"), ("精选", "select"), ("经典", "classic")]
THINGS = [("goods", "grocery", "茶叶礼盒", "tea gift box"), ("goods", "textiles", "抱枕", "cushion"),
          ("goods", "appliances", "电水壶", "electric kettle"), ("topup", "telecom", "流量包", "data pack"),
          ("coupon", "grocery", "代金券", "voucher"), ("service", "services", "保养套餐", "care package"),
          ("stay", "hotel", "客房 1 晚", "room, 1 night"), ("goods", "grocery", "咖啡豆", "coffee beans")]


def add_generated_listings(count: int, merchant_ids: list[int], chunk: int = 5000) -> None:
    """Bulk-insert varied bilingual listings in chunks (100,000 in well under a minute)."""
    rng = random.Random(20261126)
    done = 0
    while done < count:
        rows = []
        for n in range(done, min(count, done + chunk)):
            wz, we = rng.choice(WORDS)
            kind, category, tz, te = rng.choice(THINGS)
            points = rng.randrange(100, 60000, 100)
            green = wz in ("环保", "节能", "有机", "再生")
            words = dict(title_zh=f"{wz}{tz} No.{n + 1}", title_en=f"{we.capitalize()} {te} No.{n + 1}",
                         description_zh=f"{wz}{tz}，会员积分兑换。",
                         description_en=f"{we.capitalize()} {te}, redeemable with points.")
            rows.append(dict(
                merchant_id=rng.choice(merchant_ids), kind=kind, category=category, **words,
                search_terms=search.index_terms(**words),  # a bulk insert runs no ORM events
                points_price=points, sort_points=points, mix_points=None, cash_fen=0,
                stock=rng.choice([None, rng.randrange(0, 500)]), green=green,
                co2e_g=rng.randrange(0, 5000) if green else 0, status="active",
            ))
        with transaction():
            db.session.execute(insert(Listing), rows)
        done += len(rows)
    if db.engine.dialect.name == "postgresql":
        with db.engine.begin() as conn:  # fresh planner statistics after a bulk load
            conn.exec_driver_sql("ANALYZE listing")
            conn.exec_driver_sql("ANALYZE merchant")
    current_app.logger.info("added %d generated listings", count)


def _demo_channels(session) -> list[tuple[str, str]]:
    """A bank's green card programme and a metro operator, each with a key (printed once); the demo
    member's metro card is linked. Returns the new keys."""
    operator = accounts.find_by_email(session, "operator@demo.test")
    keys = []
    for kind, zh, en, per_unit, rule_zh, rule_en in (
            ("bank_card", "绿舟银行绿色信用卡", "Lvzhou Bank Green Card", 0,
             "用绿舟银行绿色信用卡在节能家电、二手、补充装等绿色品类消费，按积分规则获得积分。",
             "Spending on green categories (energy-saving appliances, second-hand, refills) with the card earns "
             "points by the rules."),
            ("transit", "申城地铁", "Shencheng Metro", 5, "每次地铁出行，按票价获得积分，另加每次 5 积分。",
             "Every metro ride earns points by its fare, plus 5 points a ride.")):
        if session.scalar(select(EarningChannel.id).where(EarningChannel.name_en == en)) is None:
            channel = channels.create_channel(session, operator, kind=kind, name_zh=zh, name_en=en,
                                              points_per_unit=per_unit, rule_zh=rule_zh, rule_en=rule_en)
            keys.append((en, api_service.create_key(session, channel.merchant, "channel events")[1]))
            if kind == "transit":
                channels.link(session, accounts.find_by_email(session, "member@demo.test"), channel.id,
                              "3100 0012 3456 78")
    return keys


def _demo_application(session) -> None:
    """A business waiting for the console's review, made by its owner's member account."""
    owner = accounts.find_by_email(session, "owner@demo.test") or accounts.register(
        session, email="owner@demo.test", password=DEMO_PASSWORD, display_name="周青禾", role="member")
    if merchants.application_for(session, owner) is None:
        merchants.apply(session, owner, {
            "name_zh": "青禾零废弃商店", "name_en": "Qinghe Zero Waste", "category": "refills",
            "credit_code": "91330106MA2H0QH15R", "contact_name": "周青禾", "phone": "13800138123",
            "email": "owner@demo.test", "address": "杭州市西湖区文三路 90 号", "opening_hours": "每天 09:00–21:00",
            "green_statement": "散装称重，自带容器立减；所有包装可回收或可堆肥。"})


def _demo_merchant_campaign(session, shop) -> None:
    """The convenience store's own double points on refills for two weeks, set up by its owner."""
    if merchant_campaigns.of_merchant(session, shop.id):
        return
    now = utcnow()
    merchant_campaigns.create(session, accounts.find_by_email(session, "merchant@demo.test"), shop, kind="multiplier",
                              name_zh="补充装双倍积分", name_en="Double points on refills", multiplier="2",
                              categories="refills", starts_at=now, ends_at=now + timedelta(days=14), now=now)


def _demo_staff_invitation(session) -> None:
    """The convenience store's owner has invited a member (by member code) to be a cashier; she has not
    answered yet."""
    owner = accounts.find_by_email(session, "merchant@demo.test")
    if not accounts.invitations_of_merchant(session, owner.merchant_id):
        accounts.invite_staff(session, owner, accounts.find_by_email(session, "chen.jing@demo.test").member_code,
                              "cashier")


def _publish_demo_rules(session) -> None:
    """Publish version 2 with demo campaigns, once, effective a moment from now."""
    if session.scalar(select(RuleSet.id).where(RuleSet.note == "Demo campaigns")):
        return
    now = utcnow()
    operator = accounts.find_by_email(session, "operator@demo.test")
    document = dict(rules.rule_set_at(session, now).document)
    document["campaigns"] = [
        {k: v for k, v in c.items() if k not in ("days_from", "days_to")}
        | {"starts_at": (now + timedelta(days=c["days_from"])).isoformat(),
           "ends_at": (now + timedelta(days=c["days_to"])).isoformat()}
        for c in DEMO_CAMPAIGNS]
    draft = rules.save_draft(session, operator, document, "Demo campaigns")
    rules.publish(session, operator, draft.id, now + timedelta(seconds=1), now=now)


def _demo_calendars(session, by_slug) -> None:
    """Service times, hotel nights (cheaper off-season), a spring sale and an early-access item."""
    now = utcnow()
    today = now.astimezone(SHANGHAI).date()
    listings = session.scalars(select(Listing).where(Listing.merchant_id.in_([m.id for m in by_slug.values()]))).all()
    for item in listings:
        if item.kind == "service":
            for day in range(1, 15):
                for hour in (10, 14, 16):
                    start = datetime.combine(today + timedelta(days=day), time(hour), tzinfo=SHANGHAI)
                    session.add(ServiceSlot(listing_id=item.id, starts_at=start, capacity=4, booked=day % 3))
        elif item.kind == "stay":
            for day in range(0, 60):
                night = today + timedelta(days=day)
                off_season = night.month in (11, 12, 3)  # winter lull and early spring
                price = item.points_price * 8 // 10 if off_season else item.points_price
                session.add(StayNight(listing_id=item.id, night=night, points_price=price, rooms=3))
    towels = next(i for i in listings if i.title_en.startswith("Bamboo-fibre towels"))
    towels.sale_points_price = towels.points_price * 3 // 4
    towels.sale_starts_at, towels.sale_ends_at = now - timedelta(days=2), now + timedelta(days=12)
    phone = next(i for i in listings if i.title_en.startswith("Certified refurbished phone"))
    phone.early_access_from, phone.available_from = now - timedelta(days=1), now + timedelta(days=3)
