"""The staff supergroup (`STAFF_CHAT_ID`): staff answer taxpayers in their topics.

Only registered staff (the desk's staff table, linked by Telegram user id) act; anyone else
who writes in a taxpayer's topic or types a staff command is refused politely and nothing
changes. In a taxpayer's topic: a message is copied to the taxpayer; `/note ...` stays
internal; `/bot` hands the conversation back to the bot (the taxpayer is told). Anywhere:
`/queue` shows the queue digest.
"""

from __future__ import annotations

import asyncio

from aiogram import Bot, Router
from aiogram.types import CallbackQuery, Message

from bot.files import UploadIntake
from bot.keyboards import StaffCaseCb
from bot.ports import StaffDesk
from bot.topics import render_queue
from taxrules.errors import UserFacingError

NOT_STAFF = "抱歉，只有已登记的工作人员可以在这里处理纳税人的会话。如需开通，请联系管理员。"
CASE_COMMANDS = {"/complete": "complete", "/reject": "reject", "/ask": "ask"}
USAGE = {
    "complete": "用法：/complete 案件号 办结说明（可作为文件或照片的说明，或回复一个文件，"
    "把办理结果文件一并发给纳税人）",
    "reject": "用法：/reject 案件号 退回原因",
    "ask": "用法：/ask 案件号 要问纳税人的问题",
}


def _command(message: Message) -> str | None:
    text = message.text or message.caption or ""  # a photo captioned "/note …" stays inside
    if not text.startswith("/"):
        return None
    return text.split(maxsplit=1)[0].split("@", 1)[0].lower()


async def on_staff_message(
    message: Message,
    staff_desk: StaffDesk,
    bot: Bot | None = None,
    uploads: UploadIntake | None = None,
) -> None:
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
    elif command in CASE_COMMANDS:
        action = CASE_COMMANDS[command]
        await _case_command(message, staff_desk, action, member.staff_id, bot, uploads)
    elif conversation is None:
        await message.reply("请在纳税人的话题中使用此命令。")
    elif command == "/bot":
        if await staff_desk.hand_back(conversation, member.staff_id):
            await message.reply("已交还智能助手，并已告知纳税人。")
        else:
            await message.reply("该会话目前由智能助手接待。")
    elif command is not None:
        await message.reply(
            "未知命令。可用：/note 内部备注，/bot 交还智能助手，/queue 案件队列，"
            "/complete、/reject、/ask 加案件号。"
        )
    else:
        quoted = message.reply_to_message
        await staff_desk.relay_to_taxpayer(
            conversation,
            message.chat.id,
            message.message_id,
            member.staff_id,
            reply_to=quoted.message_id if quoted is not None else None,
            text=message.text or message.caption,
        )


async def on_staff_edit(message: Message, staff_desk: StaffDesk) -> None:
    """A staff member edited a message already copied to a taxpayer: edit the copy."""
    if message.from_user is None or message.text is None or message.text.startswith("/"):
        return
    if await staff_desk.staff_member(message.from_user.id) is None:
        return
    await staff_desk.relay_edit(message.chat.id, message.message_id, message.text)


async def _case_command(
    message: Message,
    desk: StaffDesk,
    action: str,
    staff_id: int,
    bot: Bot | None,
    uploads: UploadIntake | None,
) -> None:
    """`/complete N note` (on a document or photo, as its caption or as a reply to it: the
    produced document goes to the taxpayer with the notice), `/reject`, `/ask`."""
    parts = (message.text or message.caption or "").split(maxsplit=2)
    if len(parts) < 3 or not parts[2].strip():
        await message.reply(USAGE[action])
        return
    ids: list[int] = []
    try:
        if action == "complete" and bot is not None and uploads is not None:
            for carrier in (message, message.reply_to_message):
                got = await uploads.accept(bot, carrier) if carrier is not None else None
                if got is not None:
                    ids.append(got.attachment_id)
                    break
        done = await desk.case_step(
            action, parts[1], staff_id, parts[2].strip(), attachment_ids=ids
        )
    except UserFacingError as e:
        await message.reply(e.user_message)
        return
    await message.reply(done)


async def on_case_button(
    query: CallbackQuery, callback_data: StaffCaseCb, staff_desk: StaffDesk
) -> None:
    """认领 / 放回队列 under an announced case: only registered staff; a lost race is told
    who has the case."""
    member = await staff_desk.staff_member(query.from_user.id)
    if member is None:
        await query.answer(NOT_STAFF, show_alert=True)
        return
    try:
        done = await staff_desk.case_step(callback_data.a, callback_data.n, member.staff_id)
    except UserFacingError as e:
        await query.answer(e.user_message, show_alert=True)
        return
    await query.answer(done)
    if query.message is not None and isinstance(query.message, Message):
        await query.message.reply(f"{member.name}：{done}")


def build_router(staff_chat_id: int) -> Router:
    """The staff supergroup's router: only updates of `staff_chat_id`."""

    async def in_staff_chat(message: Message) -> bool:
        return message.chat.id == staff_chat_id

    async def pressed_in_staff_chat(query: CallbackQuery) -> bool:
        return query.message is not None and query.message.chat.id == staff_chat_id

    # Updates are handled concurrently; the messages of one topic must reach the taxpayer in
    # the order staff wrote them. The lock is taken before the first await (asyncio locks
    # are FIFO), so each topic's messages queue their relay in arrival order.
    locks: dict[int, asyncio.Lock] = {}

    async def in_order(
        message: Message, staff_desk: StaffDesk, bot: Bot, uploads: UploadIntake | None = None
    ) -> None:
        lock = locks.setdefault(message.message_thread_id or 0, asyncio.Lock())
        async with lock:
            await on_staff_message(message, staff_desk, bot, uploads)

    router = Router(name="staff")
    router.message.filter(in_staff_chat)
    router.callback_query.filter(pressed_in_staff_chat)
    router.message.register(in_order)
    router.edited_message.filter(in_staff_chat)
    router.edited_message.register(on_staff_edit)
    router.callback_query.register(on_case_button, StaffCaseCb.filter())
    return router
