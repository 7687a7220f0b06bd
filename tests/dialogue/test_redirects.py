"""Question routing with a scripted NLU: domain.yml `settings: redirects` (a refund request
naming 个税 is the 个税 question, never the company refund form), bare numbers, opening hours
from the holiday calendar, and office questions while a staff question waits."""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path

from actions.domain import Domain
from actions.engine import DialogueEngine
from actions.policy import redirect
from actions.stores import InMemoryTrackerStore
from testing.dialogue import Chat, FakeGateway, FakeInterpreter, FakeNormalizers, parse, text_of

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = Domain.load(ROOT / "data")


def test_redirect_needs_the_intent_and_the_value() -> None:
    iit = parse("request_refund", 0.9, tax_type="iit")
    assert redirect(iit, DOMAIN)["intent"] == {"name": "faq_iit", "confidence": 0.9}
    vat = parse("request_refund", 0.9, tax_type="vat")
    assert redirect(vat, DOMAIN) is vat
    other = parse("request_correction", 0.9, tax_type="iit")  # correcting 个税 is a case
    assert redirect(other, DOMAIN) is other


async def test_the_dialogue_answers_the_redirected_question() -> None:
    gw = FakeGateway(lambda: date(2026, 12, 1))
    nlu = FakeInterpreter({"退个税": parse("request_refund", tax_type="iit")})
    engine = DialogueEngine(
        nlu,
        gw,
        InMemoryTrackerStore(),
        DOMAIN,
        today=lambda: date(2026, 12, 1),
        normalizers=FakeNormalizers(),
        rng=random.Random(1),
    )
    chat = Chat(engine, "r")
    reply = text_of(await chat.say("退个税"))
    assert "个人所得税" in reply and "不在这里办理" in reply
    assert (await chat.tracker()).active_form is None
    assert gw.called("open_draft") == []
    # a bare number never reaches the classifier
    reply = text_of(await chat.say("3"))
    assert "“3”" in reply and nlu.seen == ["退个税"]


async def test_opening_hours_on_holidays_come_from_the_calendar() -> None:
    today = date(2026, 9, 30)  # a Wednesday, the day before 国庆节
    gw = FakeGateway(lambda: today)
    gw.holidays = {date(2026, 10, d): "国庆节" for d in range(1, 8)}
    gw.holidays[date(2026, 10, 10)] = "国庆节调休"  # a Saturday the office works
    nlu = FakeInterpreter(
        {
            "国庆节上班吗": parse("faq_office_hours"),
            "明天大厅开门不": parse("faq_office_hours"),
            "今天能去大厅吗": parse("faq_office_hours"),
        }
    )
    engine = DialogueEngine(
        nlu,
        gw,
        InMemoryTrackerStore(),
        DOMAIN,
        today=lambda: today,
        normalizers=FakeNormalizers(),
        rng=random.Random(1),
    )
    chat = Chat(engine, "h")
    reply = text_of(await chat.say("国庆节上班吗"))
    assert "国庆节：10月1日（周四）至10月7日（周三）办税服务厅不开放" in reply
    assert "10月10日（周六）调休上班" in reply
    reply = text_of(await chat.say("明天大厅开门不"))
    assert reply.startswith(
        "明天（10月1日 周四，国庆节）办税服务厅不开放，10月8日（周四）起照常办公"
    )
    reply = text_of(await chat.say("今天能去大厅吗"))
    assert reply.startswith("今天（9月30日 周三）办税服务厅正常办公")


async def test_an_office_question_while_staff_wait_for_an_answer_is_answered() -> None:
    """A staff question waits (§6); "地址在哪里" is answered by the bot and the next message
    still goes to the case."""
    gw = FakeGateway(lambda: date(2026, 12, 1))
    nlu = FakeInterpreter(
        {
            "地址在哪里": parse("faq_location"),
            "用于办理银行贷款": parse("provide_info", 0.5),
        }
    )
    engine = DialogueEngine(
        nlu,
        gw,
        InMemoryTrackerStore(),
        DOMAIN,
        today=lambda: date(2026, 12, 1),
        normalizers=FakeNormalizers(),
        rng=random.Random(1),
    )
    await engine.note_staff_question("telegram", "w", "TX-2026-000119")
    chat = Chat(engine, "w")
    reply = text_of(await chat.say("地址在哪里"))
    assert DOMAIN.office["address"] in reply
    assert gw.called("answer_question") == []
    assert "已转交工作人员" in text_of(await chat.say("用于办理银行贷款"))
    assert [c[2] for c in gw.called("answer_question")] == ["用于办理银行贷款"]
