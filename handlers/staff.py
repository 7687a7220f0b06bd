"""The staff supergroup (`STAFF_CHAT_ID`): staff answer taxpayers in their topics.

Only registered staff (the desk's staff table, linked by Telegram user id) act; anyone else
who writes in a taxpayer's topic or types a staff command is refused politely and nothing
changes. In a taxpayer's topic: a message is copied to the taxpayer; `/note ...` stays
internal; `/bot` hands the conversation back to the bot (the taxpayer is told). Anywhere:
`/queue` shows the queue digest.
"""

from __future__ import annotations

from aiogram import Router
from aiogram.types import Message

from bot.ports import StaffDesk
from bot.topics import render_queue

NOT_STAFF = "抱歉，只有已登记的工作人员可以在这里处理纳税人的会话。如需开通，请联系管理员。"
STAFF_COMMANDS = frozenset({"/note", "/bot", "/queue"})


def _command(message: Message) -> str | None:
    text = message.text or ""
    if not text.startswith("/"):
        return None
    return text.split(maxsplit=1)[0].split("@", 1)[0].lower()


async def on_staff_message(message: Message, staff_desk: StaffDesk) -> None:
    """Any message in the staff group: check who writes, then relay or run the command."""
    if message.from_user is None or message.from_user.is_bot:
        return
    command = _command(message)
    thread = message.message_thread_id if message.is_topic_message else None
    conversation = (
        await staff_desk.conversation_of_topic(message.chat.id, thread) if thread else None
    )
    if command is None and conversation is None:
        return  # staff talking among themselves in General
    member = await staff_desk.staff_member(message.from_user.id)
    if member is None:
        await message.reply(NOT_STAFF)
        return
    if command == "/queue":
        await message.reply(render_queue(await staff_desk.queue()))
    elif command == "/note":
        return  # internal: never reaches the taxpayer
    elif conversation is None:
        await message.reply("请在纳税人的话题中使用此命令。")
    elif command == "/bot":
        if await staff_desk.hand_back(conversation, member.staff_id):
            await message.reply("已交还智能助手，并已告知纳税人。")
        else:
            await message.reply("该会话目前由智能助手接待。")
    elif command is not None:
        await message.reply("未知命令。可用：/note 内部备注，/bot 交还智能助手，/queue 案件队列。")
    else:
        await staff_desk.relay_to_taxpayer(
            conversation, message.chat.id, message.message_id, member.staff_id
        )


def build_router(staff_chat_id: int) -> Router:
    """The staff supergroup's router: only updates of `staff_chat_id`."""

    async def in_staff_chat(message: Message) -> bool:
        return message.chat.id == staff_chat_id

    router = Router(name="staff")
    router.message.filter(in_staff_chat)
    router.message.register(on_staff_message)
    return router
