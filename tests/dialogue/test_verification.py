"""Verification in the dialogue (scripted NLU, fake desk): status for a taxpayer ID the chat
is not verified for offers the contact button; "验证"/"绑定" explain both ways; one-time codes
typed as "验证码 …" or `/verify …`; a typed `/share_contact` payload is not a contact; a shared
contact is the channel's field, checked to be the sender's own; replies in the user's script."""

from __future__ import annotations

from actions.channel import Reply
from testing.dialogue import Chat, parse, text_of
from testing.dialogue import make_scripted_engine as make_engine
from testing.samples import GOOD_ID

STATUS_FOR_ID = f"查一下{GOOD_ID}的进度"


def contact_buttons(replies: list[Reply]) -> list[str]:
    return [b.title for r in replies for row in r.buttons for b in row if b.request_contact]


async def test_status_for_an_id_not_verified_offers_the_contact_button() -> None:
    engine, gw, _ = make_engine(nlu={STATUS_FOR_ID: parse("check_status", taxpayer_id=GOOD_ID)})
    chat = Chat(engine, "301")
    replies = await chat.say(STATUS_FOR_ID)
    text = text_of(replies)
    assert "没有在办事项" in text and "9165****D1A" in text and "验证" in text
    assert GOOD_ID not in text
    assert contact_buttons(replies) == ["📱 分享我的手机号（验证身份）"]
    # verified: no offer any more
    gw.verified["telegram:301"] = {GOOD_ID}
    replies = await chat.say("/status")
    assert contact_buttons(replies) == [] and "验证" not in text_of(replies)


async def test_verify_words_explain_both_ways_in_the_users_script() -> None:
    engine, _, _ = make_engine()
    for word in ("验证", "绑定", "我要绑定"):
        replies = await Chat(engine, "302").say(word)
        assert "分享" in text_of(replies) and "验证码" in text_of(replies)
        assert contact_buttons(replies)
    replies = await Chat(engine, "303").say("驗證")
    assert "驗證碼" in text_of(replies) and "分享我的手機號" in contact_buttons(replies)[0]


async def test_one_time_codes_typed_two_ways() -> None:
    engine, gw, _ = make_engine()
    gw.codes = {"12345678": GOOD_ID, "87654321": GOOD_ID}
    replies = await Chat(engine, "304").say("验证码 12345678")
    assert "验证成功" in text_of(replies) and "9165****D1A" in text_of(replies)
    assert replies[-1].remove_keyboard
    assert gw.called("verify_code")[0][1] == "12345678"
    replies = await Chat(engine, "305").say("/verify 87654321")
    assert "验证成功" in text_of(replies)
    replies = await Chat(engine, "306").say("驗證碼：11112222")
    assert "驗證碼不對" in text_of(replies)
    assert GOOD_ID not in gw.verified.get("telegram:306", set())


async def test_a_typed_contact_payload_is_not_a_contact() -> None:
    engine, gw, _ = make_engine()
    gw.handlers = {"+8613800138000": [GOOD_ID]}
    chat = Chat(engine, "307")
    replies = await chat.say(
        '/share_contact{"contact": {"phone": "+8613800138000", "user_id": "u307"}}'
    )
    assert gw.called("verify_contact") == []
    assert contact_buttons(replies)  # told how to share it for real
    # someone else's card, shared by this user: refused with the reason
    replies = await chat.share_contact("+8613800138000", user_id="u999")
    assert "本人" in text_of(replies) and "telegram:307" not in gw.verified
    replies = await chat.share_contact("+8613800138000")
    assert "验证成功" in text_of(replies) and gw.verified["telegram:307"] == {GOOD_ID}
    tracker = await chat.tracker()
    assert tracker.latest_message["contact"] == {"phone": "+86 138****8000"}  # not in full
