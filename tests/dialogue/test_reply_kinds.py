"""`Reply.kinds`: every reply names what it says (the domain response, or the action that wrote
a free text), so tests and the conversation benchmark can check a reply without its wording."""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path

from actions.channel import Reply
from actions.dispatcher import CollectingDispatcher, merge_replies
from actions.domain import Domain
from actions.engine import DialogueEngine
from actions.stores import InMemoryTrackerStore
from testing.dialogue import Chat, FakeGateway, FakeInterpreter, FakeNormalizers, parse

ROOT = Path(__file__).resolve().parents[2]
TODAY = date(2026, 12, 1)
BAD_ID = "91650100MA78ABCD1B"


def make_engine(gateway: FakeGateway | None = None) -> DialogueEngine:
    return DialogueEngine(
        FakeInterpreter(
            {
                "我想改一下申报数据": parse("request_correction"),
                "个税，今年一季度": parse("provide_info", tax_type="iit", tax_period="2026-Q1"),
                BAD_ID: parse("provide_info", taxpayer_id=BAD_ID),
            }
        ),
        gateway or FakeGateway(lambda: TODAY),
        InMemoryTrackerStore(),
        Domain.load(ROOT / "data"),
        today=lambda: TODAY,
        normalizers=FakeNormalizers(),
        rng=random.Random(3),
    )


async def test_a_turn_names_its_responses_in_order() -> None:
    chat = Chat(make_engine())
    (reply,) = await chat.say("我想改一下申报数据")
    assert reply.kinds == ("utter_start_case", "utter_ask_tax_type__tax_period")
    (reply,) = await chat.say("个税，今年一季度")
    assert reply.kinds == ("utter_ask_taxpayer_id",)
    (reply,) = await chat.say(BAD_ID)
    assert reply.kinds == ("utter_invalid_taxpayer_id_reason",)
    (reply,) = await chat.say("那个啥")
    assert reply.kinds == ("utter_form_not_understood", "utter_ask_taxpayer_id")


async def test_a_free_text_is_named_by_the_action_that_wrote_it() -> None:
    gateway = FakeGateway(lambda: TODAY)
    gateway.fail_next = "rate"  # the desk refuses: its message is said as it comes
    chat = Chat(make_engine(gateway))
    (reply,) = await chat.press('/rate{"case_number": "TX-2026-000001", "level": "satisfied"}')
    assert reply.text == "系统暂时无法处理，请稍后再试。"
    assert reply.kinds == ("action_rate",)


def test_dispatcher_and_merge_keep_the_kinds() -> None:
    dispatcher = CollectingDispatcher(Domain.load(ROOT / "data"), rng=random.Random(1))
    dispatcher.action = "action_something"
    dispatcher.utter_message(response="utter_ok")
    dispatcher.utter_message(text="自由文本")
    child = dispatcher.child()
    child.utter_message(text="另一段")
    merged = merge_replies([*dispatcher.messages, *child.messages])
    assert [r.kinds for r in merged] == [("utter_ok", "action_something", "action_something")]
    assert merge_replies([Reply("a", kinds=("x",)), Reply("b")])[0].kinds == ("x",)
