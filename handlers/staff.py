"""The staff supergroup (`STAFF_CHAT_ID`): staff answer taxpayers in their topics.

Only registered staff (the desk's staff table, linked by Telegram user id) act; anyone else
who writes in a taxpayer's topic or types a staff command is refused politely and nothing
changes. In a taxpayer's topic: a message is copied to the taxpayer; `/note ...` stays
internal; `/bot` hands the conversation back to the bot (the taxpayer is told); `/code`
issues a one-time verification code for the topic's taxpayer ID (shown to staff only);
`/review` (quoting a taxpayer's message, or alone for their latest) puts the words the bot
misunderstood into the admins' review inbox in the studio. A
message written while the bot has the conversation takes it over: the taxpayer is told which
staff member serves them, the bot goes quiet, and the topic is told so. Anywhere: `/queue`
shows the queue digest.
"""

from __future__ import annotations

import contextlib

from aiogram import Bot, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, Message

from actions.locks import KeyedLocks
from bot.albums import AlbumCollector
from bot.files import UploadIntake
from bot.keyboards import StaffCaseCb, staff_case_keyboard
from bot.ports import StaffDesk
from bot.topics import render_queue
from taxrules.errors import UserFacingError

NOT_STAFF = "抱歉，只有已登记的工作人员可以在这里处理纳税人的会话。如需开通，请联系管理员。"
TAKEN_OVER = (
    "您已接管本会话：纳税人已收到「工作人员{name}为您服务」，智能助手暂停回复，"
    "您的消息已转给纳税人。/bot 交还智能助手；/note 开头的消息不会发给纳税人。"
)
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
    album: list[Message] | None = None,
    bot: Bot | None = None,
    uploads: UploadIntake | None = None,
) -> None:
    """Any message in the staff group: check who writes, then relay or run the command.
    `album`: all items of an album (`message` is the one with the caption), relayed as one
    album. `bot` and `uploads`: a document staff attach to `/complete` is taken in."""
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
    elif command == "/code":  # stays in the topic: staff check who they give it to
        try:
            await message.reply(await staff_desk.issue_code(conversation, member.staff_id))
        except UserFacingError as e:
            await message.reply(e.user_message)
    elif command == "/review":
        quoted = message.reply_to_message
        try:
            text = await staff_desk.flag_for_review(
                conversation,
                member.staff_id,
                message.chat.id,
                quoted.message_id if quoted is not None else None,
            )
        except UserFacingError as e:
            await message.reply(e.user_message)
        else:
            await message.reply(f"已交给管理员复核（训练工作室的复核箱）：「{text[:200]}」")
    elif command == "/bot":
        if await staff_desk.hand_back(conversation, member.staff_id):
            await message.reply("已交还智能助手，并已告知纳税人。")
        else:
            await message.reply("该会话目前由智能助手接待。")
    elif command is not None:
        await message.reply(
            "未知命令。可用：/note 内部备注，/bot 交还智能助手，/queue 案件队列，/code 验证码，"
            "/review 交管理员复核，/complete、/reject、/ask 加案件号。"
        )
    else:
        quoted = message.reply_to_message
        took_over = await staff_desk.relay_to_taxpayer(
            conversation,
            message.chat.id,
            message.message_id,
            member.staff_id,
            reply_to=quoted.message_id if quoted is not None else None,
            text=message.text or message.caption,
            album=[m.message_id for m in album] if album and len(album) > 1 else None,
        )
        if took_over:
            await message.reply(TAKEN_OVER.format(name=member.name))


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
    """A button under an announced case: only registered staff; the desk checks the step
    (a lost claim race is told who has the case). A step that needs a text (ask, complete,
    reject) is checked, then the command to type is shown. The buttons then follow the
    case's state."""
    member = await staff_desk.staff_member(query.from_user.id)
    if member is None:
        await query.answer(NOT_STAFF, show_alert=True)
        return
    action, number = callback_data.a, callback_data.n
    try:
        if action in USAGE:
            await staff_desk.check_step(action, number, member.staff_id)
            done = USAGE[action].replace("案件号", number, 1).replace("用法：", "请发送：", 1)
        else:
            done = await staff_desk.case_step(action, number, member.staff_id)
    except UserFacingError as e:
        await query.answer(e.user_message, show_alert=True)
        done = None
    else:
        await query.answer(done)
    if isinstance(query.message, Message):
        if done is not None:
            await query.message.reply(f"{member.name}：{done}")
        await _follow_state(query.message, staff_desk, number)


async def _follow_state(message: Message, desk: StaffDesk, number: str) -> None:
    """Show the buttons the case's state offers now (none once it is closed)."""
    try:
        actions = await desk.case_buttons(number)
    except UserFacingError:  # no such case (a made-up payload): already answered
        return
    with contextlib.suppress(TelegramBadRequest):  # unchanged, or deleted by hand
        await message.edit_reply_markup(reply_markup=staff_case_keyboard(number, actions))


def build_router(staff_chat_id: int, *, locks: KeyedLocks | None = None) -> Router:
    """The staff supergroup's router: only updates of `staff_chat_id`. `locks`: one per
    topic while it has messages in hand (given by tests to watch them)."""

    async def in_staff_chat(message: Message) -> bool:
        return message.chat.id == staff_chat_id

    async def pressed_in_staff_chat(query: CallbackQuery) -> bool:
        return query.message is not None and query.message.chat.id == staff_chat_id

    # Updates are handled concurrently; the messages of one topic must reach the taxpayer in
    # the order staff wrote them. The lock is queued for before the first await (asyncio
    # locks are FIFO), so each topic's messages queue their relay in arrival order; a
    # topic's lock is dropped when nobody holds or waits for it.
    locks = locks if locks is not None else KeyedLocks()

    async def in_order(
        message: Message,
        staff_desk: StaffDesk,
        bot: Bot,
        uploads: UploadIntake | None = None,
        albums: AlbumCollector | None = None,
    ) -> None:
        if not message.media_group_id or albums is None:
            async with locks.hold(message.message_thread_id or 0):
                await on_staff_message(message, staff_desk, bot=bot, uploads=uploads)
            return
        # An album arrives as one update per item: the first item claims the album before
        # it queues for the topic (so the others join it meanwhile and return), then, in its
        # place in the topic's order, waits for the rest and relays it as one album.
        group = albums.claim(message)
        if group is None:
            return
        async with locks.hold(message.message_thread_id or 0):
            items = await albums.settle(group)
            captioned = next((m for m in items if m.caption), items[0])
            await on_staff_message(captioned, staff_desk, album=items, bot=bot, uploads=uploads)

    router = Router(name="staff")
    router.message.filter(in_staff_chat)
    router.callback_query.filter(pressed_in_staff_chat)
    router.message.register(in_order)
    router.edited_message.filter(in_staff_chat)
    router.edited_message.register(on_staff_edit)
    router.callback_query.register(on_case_button, StaffCaseCb.filter())
    return router
