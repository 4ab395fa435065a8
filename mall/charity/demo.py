"""Demo charity projects for `flask seed-demo`: three bilingual projects, a matching campaign, a few gifts."""
from datetime import timedelta

from sqlalchemy import select

from mall.account import service as accounts
from mall.charity import service
from mall.charity.models import Project
from mall.clock import utcnow
from mall.edge import transaction
from mall.errors import DomainError
from mall.coalition import service as merchants

PROJECTS = [
    dict(cause="education", organisation_zh="春苗乡村教育基金会", organisation_en="Spring Sprout Rural Education Foundation",
         title_zh="乡村儿童图书角", title_en="Reading corners for rural children",
         story_zh="在云南、贵州的 40 所乡村小学建设图书角，每个图书角配备 300 册适龄图书和一个书架。\n"
                  "每 100 积分由平台折算 1 元，全部用于购书和运输。",
         story_en="Reading corners in 40 village schools in Yunnan and Guizhou, each with 300 age-appropriate books "
                  "and a bookcase.\nThe programme pays ¥1 for every 100 points, all of it spent on books and delivery.",
         goal_points=2_000_000, fen_per_100_points=100, days=(-20, 70)),
    dict(cause="environment", organisation_zh="长江生态保护协会", organisation_en="Yangtze Ecology Association",
         title_zh="长江湿地修复", title_en="Yangtze wetland restoration",
         story_zh="在洞庭湖畔恢复 50 公顷退化湿地：清除外来物种、补种芦苇与苔草，为越冬候鸟留出栖息地。",
         story_en="Restoring 50 hectares of degraded wetland on Dongting Lake: clearing invasive plants, replanting "
                  "reeds and sedges, and keeping room for wintering birds.",
         goal_points=5_000_000, fen_per_100_points=100, days=(-10, 110)),
    dict(cause="disaster_relief", organisation_zh="安澜应急救助中心", organisation_en="Anlan Emergency Relief Centre",
         title_zh="汛期家庭应急包", title_en="Flood-season family emergency kits",
         story_zh="为汛期易受灾地区的家庭预置应急包：净水片、手电、急救用品和保暖毯。明年春季开始募集。",
         story_en="Emergency kits for families in flood-prone areas: water tablets, torches, first-aid supplies and "
                  "blankets. Donations open next spring.",
         goal_points=1_000_000, fen_per_100_points=100, days=(30, 150)),
]


def seed_charity(session) -> None:
    """Create the demo projects, a merchant's 1:1 matching and a few donations, once."""
    with transaction():
        if session.scalar(select(Project.id).where(Project.title_zh == PROJECTS[0]["title_zh"])):
            return
        now = utcnow().replace(minute=0, second=0, microsecond=0)
        operator = accounts.find_by_email(session, "operator@demo.test")
        created = []
        for spec in PROJECTS:
            fields = {k: v for k, v in spec.items() if k != "days"}
            start, end = spec["days"]
            created.append(service.create_project(session, operator, service.ProjectDraft(
                **fields, starts_at=now + timedelta(days=start), ends_at=now + timedelta(days=end))))
        shop = merchants.get_by_slug(session, "lvlin-mart")
        service.create_match_campaign(session, operator, created[1].id, merchant_id=shop.id if shop else None,
                                      match_percent=100, cap_points=100_000, starts_at=now - timedelta(days=1),
                                      ends_at=now + timedelta(days=60))
    gifts = [("li.na@demo.test", 0, 300, False), ("wang.qiang@demo.test", 0, 200, True),
             ("chen.jing@demo.test", 1, 500, False), ("li.na@demo.test", 1, 150, True)]
    for email, index, points, anonymous in gifts:
        member = accounts.find_by_email(session, email)
        try:
            with transaction():
                service.donate(session, member, created[index].id, points, anonymous=anonymous,
                               token=f"demo:{index}:{email}:{points}")
        except DomainError:
            pass  # a demo member without enough points simply does not give
