"""desk.services.inbox: the console's conversations — the list with staff first, the chat
(taxpayer, bot, staff, pending replies, files), take over / reply / hand back in one
transaction with the taxpayer's notices, the staff topic kept in step, and the rules."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from desk.errors import MissingText, NotFound, StaffNotFound
from desk.models import Message, Outbox
from desk.services import STAFF_CHANNEL, Desk
from desk.services.permissions import PERMISSIONS, refusal
from testing.clock import Clock


async def _rows(desk: Desk, channel: str) -> list[Outbox]:
    rows = list(
        await desk.session.scalars(
            select(Outbox).where(Outbox.channel == channel).order_by(Outbox.id)
        )
    )
    await desk.session.commit()
    return rows


async def _message(desk: Desk, conv_id: int, direction: str, text: str, key: str | None) -> None:
    desk.session.add(
        Message(
            conversation_id=conv_id,
            direction=direction,
            channel="web",
            chat_id="w1",
            text=text,
            outbox_key=key,
            created_at=desk.now(),
        )
    )
    await desk.session.commit()


def test_the_conversation_rules_are_for_every_active_staff_member() -> None:
    for action in ("take_over", "reply", "hand_back"):
        assert PERMISSIONS[action].rule == "any_staff"
        assert refusal(action, role="staff", staff_id=1) is None
    assert (
        refusal("manage_accounts", role="supervisor", staff_id=1)
        == "只有管理员可以管理工作人员账号。"
    )
    assert refusal("manage_accounts", role="admin", staff_id=1) is None


async def test_take_over_reply_and_hand_back_without_a_topic(desk: Desk) -> None:
    wang = (await desk.add_staff("王芳")).id
    conv = await desk.ensure_conversation("web", "w1", "w1", display_name="李四")
    done = await desk.take_over(conv.id, wang)
    assert done.took_over and (done.channel, done.chat_id) == ("web", "w1")
    assert not (await desk.take_over(conv.id, wang)).took_over  # staff have it already
    assert await desk.conversation_state(conv.id) == "human"
    await desk.staff_reply(conv.id, wang, "  您好，请补充材料  ")
    rows = await _rows(desk, "web")
    assert [r.kind for r in rows] == ["taken_over", "staff_copy"]
    assert rows[0].payload["text"]["zh_hans"].startswith("工作人员王芳为您服务")
    copy = rows[1]
    assert copy.idempotency_key.startswith("staff_copy:console:")
    assert copy.payload == {
        "conversation_id": conv.id,
        "text": "您好，请补充材料",
        "staff_id": wang,
        "documents": [],
        "source": "console",
    }
    assert await _rows(desk, STAFF_CHANNEL) == []  # no staff group: nothing for a topic
    assert await desk.hand_back_to_bot(conv.id, wang)
    assert [r.kind for r in await _rows(desk, "web")][-1] == "handed_back"
    assert await _rows(desk, STAFF_CHANNEL) == []


async def test_a_reply_takes_over_and_reaches_the_topic(desk: Desk) -> None:
    wang = (await desk.add_staff("王芳")).id
    conv = await desk.ensure_conversation("telegram", "7", "7")
    await desk.save_staff_topic(conv.id, -100, 5)
    att = await desk.add_attachment(
        sha256="0" * 64,
        size=3,
        storage_key="ab/cd.pdf",
        media_type="application/pdf",
        original_name="通知书.pdf",
    )
    done = await desk.staff_reply(conv.id, wang, "", [att.id])
    assert done.took_over
    chat = await _rows(desk, "telegram")
    assert [r.kind for r in chat] == ["taken_over", "staff_copy"]
    assert chat[1].payload["documents"] == [
        {"attachment_id": att.id, "name": "通知书.pdf", "storage_key": "ab/cd.pdf"}
    ]
    staff = await _rows(desk, STAFF_CHANNEL)
    assert [r.kind for r in staff] == ["staff_card", "staff_console_reply"]
    assert staff[1].payload["staff_name"] == "王芳"
    assert staff[1].payload["documents"] == ["通知书.pdf"]
    assert await desk.hand_back_to_bot(conv.id, wang)
    assert [r.kind for r in await _rows(desk, STAFF_CHANNEL)][-1] == "staff_card"


async def test_refusals_lose_nothing(desk: Desk) -> None:
    wang = await desk.add_staff("王芳")
    conv = await desk.ensure_conversation("web", "w1", "w1")
    with pytest.raises(MissingText):
        await desk.staff_reply(conv.id, wang.id, "   ")
    with pytest.raises(NotFound):
        await desk.staff_reply(conv.id, wang.id, "hi", [999])
    with pytest.raises(NotFound):
        await desk.take_over(999, wang.id)
    wang.active = False
    await desk.session.commit()
    with pytest.raises(StaffNotFound):  # a disabled account can do nothing
        await desk.take_over(conv.id, wang.id)
    with pytest.raises(StaffNotFound):
        await desk.hand_back_to_bot(conv.id, wang.id)
    assert await desk.conversation_state(conv.id) == "bot"
    assert await _rows(desk, "web") == []


async def test_the_list_puts_staff_first_and_the_chat_shows_who_wrote(
    desk: Desk, clock: Clock
) -> None:
    wang = (await desk.add_staff("王芳")).id
    a = await desk.ensure_conversation("web", "w1", "w1", display_name="甲")
    b = await desk.ensure_conversation("web", "w2", "w2", display_name="乙")
    c = await desk.ensure_conversation("telegram", "9", "9", display_name="丙")
    clock.advance(minutes=1)
    await desk.set_conversation_state(c.id, "human")
    clock.advance(minutes=1)
    await desk.set_conversation_state(a.id, "human")
    await _message(desk, b.id, "in", "最新的消息", None)
    rows = await desk.conversations()
    assert [r.id for r in rows][:2] == [c.id, a.id]  # staff first, waiting the longest first
    assert [r.id for r in await desk.conversations(state="bot")] == [b.id]
    assert [r.id for r in await desk.conversations(channel="telegram")] == [c.id]
    assert [r.id for r in await desk.conversations(q="乙")] == [b.id]
    assert next(r for r in rows if r.id == b.id).last_text == "最新的消息"

    await _message(desk, a.id, "in", "我要更正申报", None)
    await _message(desk, a.id, "out", "请提供纳税人识别号", "reply:1")
    await desk.staff_reply(a.id, wang, "已收到")
    copy = (await _rows(desk, "web"))[-1]
    view = await desk.conversation_view(a.id)
    assert [(i.who, i.text, i.pending) for i in view.items] == [
        ("taxpayer", "我要更正申报", False),
        ("bot", "请提供纳税人识别号", False),
        ("staff", "已收到", True),
    ]
    assert view.items[-1].staff_name == "王芳"
    # delivered: a message row with the copy's key, shown as staff's (with the name)
    copy.status = "sent"
    await desk.session.commit()
    await _message(desk, a.id, "out", "已收到", copy.idempotency_key)
    view = await desk.conversation_view(a.id)
    assert [(i.who, i.staff_name, i.pending) for i in view.items][-1] == ("staff", "王芳", False)
    assert len(view.items) == 3


async def test_a_pressed_button_reads_as_its_title_in_the_chat(desk: Desk) -> None:
    """The web chat stores a press as its payload; staff read the title the taxpayer saw."""
    a = await desk.ensure_conversation("web", "w1", "w1", display_name="甲")
    desk.session.add(
        Message(
            conversation_id=a.id,
            direction="out",
            channel="web",
            chat_id="w1",
            text="要提交吗？",
            meta={"buttons": [[{"title": "提交", "payload": "/submit_case"}]]},
            created_at=desk.now(),
        )
    )
    await desk.session.commit()
    await _message(desk, a.id, "in", "/submit_case", None)
    await _message(desk, a.id, "in", "/help", None)  # typed, never offered as a button
    view = await desk.conversation_view(a.id)
    assert [i.text for i in view.items] == ["要提交吗？", "【按钮】提交", "/help"]
