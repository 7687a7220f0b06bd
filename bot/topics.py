"""The staff supergroup: one forum topic per taxpayer conversation, and the outbox sender
that delivers the desk's `telegram_staff` rows into those topics.

* `TopicManager.ensure(conversation_id)` returns the conversation's topic, creating it on
  first need: named with the taxpayer's display name and open case number, opened by a
  pinned card (taxpayer, masked taxpayer ID, open cases with deadlines in Beijing time, the
  state). Creation holds a per-conversation lock, and the desk keeps one topic per
  conversation (unique), so two first messages at once make one topic; a topic another
  process saved first wins and ours is deleted.
* Telegram allows about 20 new topics a minute: `TopicRateLimit` keeps below it, and a 429
  becomes `desk.outbox.RetryLater(retry_after)`; either way the outbox row waits and is sent
  later, nothing is dropped.
* A topic deleted or closed by hand: the send fails with "message thread not found" (or
  TOPIC_CLOSED); the sender forgets the topic, creates a new one and sends again, once. A
  second failure is an ordinary error (the outbox backs off): never a loop.
* The rows: `staff_handoff` (the alert when a conversation is handed to staff) and
  `staff_relay` (a taxpayer message copied into the topic with copyMessage; a caption longer
  than Telegram's 1,024 characters is cut there and the rest follows as text), and
  `staff_answer` (the taxpayer's answer to a staff question, given to the bot), `staff_event`
  (a taxpayer's own step on a case: withdrawn, pages added), and `staff_complaint` (a
  complaint recorded as a supervisor follow-up), and `staff_console_reply` (what staff
  replied from the web console: "【工作台】王芳：…"). Written while
  the office is closed (`closed` in the payload), the alert says "（非办公时间）" and a
  relayed copy is marked: its caption starts with "🌙非办公时间｜", or, for a text, a
  one-line note answers it. `queue_digest` (the morning digest, `render_queue`) goes to the
  group's General topic.

Messages go straight through the `Bot` (not `ReplySender`): the outbox already sends one
row at a time per conversation, and Telegram's 429s become `RetryLater`.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNotFound,
    TelegramRetryAfter,
)
from aiogram.types import ReplyParameters

from actions.locks import KeyedLocks
from bot.keyboards import staff_case_keyboard
from bot.ports import TopicCase, TopicFacts, TopicStore
from desk.outbox import Delivered, OutboxItem, RetryLater, Undeliverable

if TYPE_CHECKING:
    from desk.runtime import DeskRuntime

log = logging.getLogger(__name__)

T = TypeVar("T")
OFFICE_TZ = ZoneInfo("Asia/Shanghai")
CAPTION_LIMIT = 1024
TOPIC_NAME_LIMIT = 128
TOPICS_PER_MINUTE = 20
NAMES_KEPT = 4096  # topic names remembered (to rename only on change); older ones re-checked
GROUP_MESSAGES_PER_MINUTE = 20
#: Marks of a taxpayer message written while the office was closed.
CLOSED_MARK = "（非办公时间）"
CLOSED_PREFIX = "🌙非办公时间｜"
CLOSED_NOTE = "🌙 上条消息在非办公时间发送"
STATE_TEXT = {"bot": "智能助手接待中", "human": "人工服务中"}
STATUS_TEXT = {
    "collecting": "填写中",
    "queued": "待受理",
    "in_progress": "办理中",
    "waiting_taxpayer": "等待纳税人",
}


def format_deadline(at: datetime) -> str:
    """`12月3日 18:00` in Beijing time."""
    local = at.astimezone(OFFICE_TZ)
    return f"{local.month}月{local.day}日 {local:%H:%M}"


#: How the card names the taxpayer's intents (others show as they are).
INTENT_LABELS = {
    "greet": "问候",
    "goodbye": "道别",
    "thank": "致谢",
    "affirm": "确认",
    "deny": "否定",
    "request_correction": "更正申报",
    "request_tax_certificate": "开具完税证明",
    "request_invoice": "发票申领",
    "request_refund": "退税",
    "request_registration_change": "登记变更",
    "submit_document": "提交材料",
    "provide_info": "提供信息",
    "check_status": "查询进度",
    "cancel_request": "撤销申请",
    "request_human": "转人工",
    "faq_office_hours": "咨询办公时间",
    "faq_online_services": "咨询网上办理",
    "ask_policy": "咨询政策",
    "complaint": "投诉",
    "out_of_scope": "无关话题",
    "help": "求助",
    "nlu_fallback": "未能理解",
}


def topic_name(facts: TopicFacts) -> str:
    """The taxpayer's display name and the number of the first open case (a submitted one:
    a form still being filled in is not a case for staff yet)."""
    name = facts.display_name.strip() or f"纳税人 {facts.conversation_id}"
    submitted = [c for c in facts.cases if c.status != "collecting"]
    if submitted:
        name = f"{name} · {submitted[0].number}"
    return name[:TOPIC_NAME_LIMIT]


def render_card(facts: TopicFacts) -> str:
    """The card pinned at the top of the topic."""
    lines = [f"👤 纳税人：{facts.display_name}"]
    mark = "" if facts.verified is None else ("（已验证）" if facts.verified else "（未验证）")
    lines.append(f"🆔 纳税人识别号：{facts.masked_tax_id or '（未提供）'}{mark}")
    lines.append(f"💬 会话状态：{STATE_TEXT.get(facts.state, facts.state)}")
    if facts.cases:
        lines.append("📂 未结案件：")
        for c in facts.cases:
            due = f"，截止 {format_deadline(c.deadline_at)}（北京时间）" if c.deadline_at else ""
            lines.append(f"  · {c.number} {c.title}（{STATUS_TEXT.get(c.status, c.status)}{due}）")
    else:
        lines.append("📂 未结案件：无")
    if facts.intents:
        said = " → ".join(INTENT_LABELS.get(i, i) for i in facts.intents)
        lines.append(f"🗨️ 最近意图：{said}")
    lines.append("在本话题直接回复即发给纳税人；/note 开头为内部备注；/bot 交还智能助手。")
    return "\n".join(lines)


class TopicRateLimit:
    """At most `per_minute` slots (new topics, or messages into the group) in any 60
    seconds, in this process (Telegram's limits are about 20 a minute). With Redis,
    `RedisRateLimit` shares them between processes."""

    def __init__(self, per_minute: int = TOPICS_PER_MINUTE, *, window: float = 60.0) -> None:
        self.per_minute = per_minute
        self.window = window
        self._times: list[float] = []

    async def wait(self) -> float:
        """0 and a slot taken when a topic may be created now, else the seconds to wait."""
        return self.take()

    def take(self) -> float:
        """`wait` without the event loop (the in-process bucket)."""
        now = time.monotonic()
        self._times = [t for t in self._times if now - t < self.window]
        if len(self._times) < self.per_minute:
            self._times.append(now)
            return 0.0
        return max(0.05, self.window - (now - self._times[0]))


#: A sliding window in one sorted set: drop the slots older than the window, take one if
#: fewer than the limit are left (-1), else say how long until the oldest leaves. Redis's own
#: clock, so processes on different machines agree.
_SLOT_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000))
  return '-1'
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return tostring(window - (now - tonumber(oldest[2])))
"""


class RedisRateLimit(TopicRateLimit):
    """The same limit shared by every process using `key` in Redis (a sorted set of the
    slots taken in the last window). When Redis does not answer, this process's own bucket
    stands in (logged), so the staff group never stalls on Redis."""

    def __init__(
        self, redis: Any, key: str, per_minute: int = TOPICS_PER_MINUTE, *, window: float = 60.0
    ) -> None:
        super().__init__(per_minute, window=window)
        self.redis = redis
        self.key = key

    async def wait(self) -> float:
        try:
            left = await self.redis.eval(
                _SLOT_SCRIPT, 1, self.key, self.window, self.per_minute, uuid.uuid4().hex
            )
        except Exception as e:  # Redis down or unreachable: keep going on our own count
            log.warning(
                "rate limit %s: Redis unavailable (%s), counting in-process",
                self.key,
                type(e).__name__,
            )
            return self.take()
        seconds = float(left.decode() if isinstance(left, bytes) else left)
        return 0.0 if seconds < 0 else max(0.05, seconds)  # -1: a slot taken


def topic_gone(exc: TelegramBadRequest) -> bool:
    """Telegram's answer for a topic deleted or closed by hand."""
    text = exc.message.lower()
    return "thread not found" in text or "topic_closed" in text or "topic_deleted" in text


class TopicManager:
    """The conversation ↔ topic mapping on the Telegram side (see the module docstring)."""

    def __init__(
        self,
        bot: Bot,
        staff_chat_id: int,
        store: TopicStore,
        *,
        limit: TopicRateLimit | None = None,
    ) -> None:
        self.bot = bot
        self.staff_chat_id = staff_chat_id
        self.store = store
        self.limit = limit or TopicRateLimit()
        self._locks = KeyedLocks()  # per conversation, dropped when released
        self._names: OrderedDict[int, str] = OrderedDict()  # the names we last gave (LRU)

    async def ensure(self, conversation_id: int) -> int:
        """The conversation's topic, created (with its pinned card) when it has none.
        Raises `RetryLater` when Telegram's topic limit says to wait."""
        async with self._locks.hold(conversation_id):
            thread = await self.store.topic(conversation_id)
            if thread is not None:
                return thread
            return await self._create(conversation_id)

    async def forget(self, conversation_id: int, thread_id: int) -> None:
        """The topic is gone (deleted or closed by hand)."""
        log.info("staff topic %s of conversation %s is gone", thread_id, conversation_id)
        await self.store.forget_topic(conversation_id, thread_id)

    async def _create(self, conversation_id: int) -> int:
        wait = await self.limit.wait()
        if wait > 0:
            raise RetryLater(wait, "staff topic limit")
        facts = await self.store.facts(conversation_id)
        try:
            topic = await self.bot.create_forum_topic(self.staff_chat_id, topic_name(facts))
        except TelegramRetryAfter as e:
            raise RetryLater(float(e.retry_after), "Telegram topic flood control") from e
        thread = topic.message_thread_id
        kept = await self.store.save_topic(conversation_id, self.staff_chat_id, thread)
        if kept != thread:  # another process made one first: keep theirs
            try:
                await self.bot.delete_forum_topic(self.staff_chat_id, thread)
            except TelegramAPIError:
                log.warning("could not delete the duplicate staff topic %s", thread)
            return kept
        self._named(conversation_id, topic_name(facts))
        try:
            card = await self.bot.send_message(
                self.staff_chat_id, render_card(facts), message_thread_id=thread
            )
            await self.store.save_card(conversation_id, card.message_id)
            await self.bot.pin_chat_message(
                self.staff_chat_id, card.message_id, disable_notification=True
            )
        except TelegramRetryAfter:
            log.warning("staff topic %s: card not sent (flood control)", thread)
        except TelegramBadRequest as e:
            log.warning("staff topic %s: card not sent or pinned: %s", thread, e.message)
        log.info("staff topic %s created for conversation %s", thread, conversation_id)
        return thread

    async def refresh_card(self, conversation_id: int, *, may_wait: bool = False) -> None:
        """Show the conversation's current state, cases and last intents on its pinned card,
        and rename the topic when its open case changed (`rename`). `may_wait`: raise
        `RetryLater` when the rename must wait for the topic limit (a `staff_card` row, safe
        to repeat); otherwise (after a message that must not be sent twice) the rename is
        left to the next refresh."""
        card = await self.store.card(conversation_id)
        if card is None:
            return
        facts = await self.store.facts(conversation_id)
        try:
            await self.bot.edit_message_text(
                text=render_card(facts), chat_id=self.staff_chat_id, message_id=card
            )
        except TelegramBadRequest as e:  # unchanged, or the card was deleted by hand
            log.debug("card of conversation %s not refreshed: %s", conversation_id, e.message)
        try:
            await self.rename(conversation_id, facts)
        except RetryLater:
            if may_wait:
                raise
            log.debug("topic of conversation %s: rename left to the next refresh", conversation_id)

    async def rename(self, conversation_id: int, facts: TopicFacts | None = None) -> None:
        """Give the topic its current name (display name · open case number) when it is not
        the one this process last gave it. A rename takes a slot of the topic limit (raises
        `RetryLater` when there is none: the row waits, and the card edit before it is
        harmless to repeat); Telegram's TOPIC_NOT_MODIFIED (another process, or a restart,
        named it so already) is success."""
        facts = facts or await self.store.facts(conversation_id)
        name = topic_name(facts)
        if self._names.get(conversation_id) == name:
            self._names.move_to_end(conversation_id)
            return
        thread = await self.store.topic(conversation_id)
        if thread is None:
            return
        wait = await self.limit.wait()
        if wait > 0:
            raise RetryLater(wait, "staff topic limit (rename)")
        try:
            await self.bot.edit_forum_topic(self.staff_chat_id, thread, name=name)
        except TelegramRetryAfter as e:
            raise RetryLater(float(e.retry_after), "Telegram topic flood control") from e
        except TelegramBadRequest as e:
            if "topic_not_modified" not in e.message.lower():
                log.warning("topic %s not renamed: %s", thread, e.message)
                return  # deleted by hand: the next need recreates it, with its name
        self._named(conversation_id, name)

    def _named(self, conversation_id: int, name: str) -> None:
        self._names[conversation_id] = name
        self._names.move_to_end(conversation_id)
        while len(self._names) > NAMES_KEPT:
            self._names.popitem(last=False)

    async def in_topic(self, conversation_id: int, send: Callable[[int], Awaitable[T]]) -> T:
        """Run `send(thread_id)` in the conversation's topic; recreate the topic once if it
        was deleted or closed by hand."""
        thread = await self.ensure(conversation_id)
        try:
            return await send(thread)
        except TelegramBadRequest as e:
            if not topic_gone(e):
                raise
            await self.forget(conversation_id, thread)
        thread = await self.ensure(conversation_id)
        return await send(thread)  # a second failure goes to the outbox's back-off


class StaffTopicSender:
    """`desk.outbox.Sender` for rows of the `telegram_staff` channel. `limit`: messages a
    minute into the staff group (Telegram allows 20 a minute per group); a row over it waits
    (`RetryLater`) instead of being sent into a 429. One slot per row (a new topic's card
    and a long caption's second part ride along; a 429 for those is still obeyed)."""

    def __init__(self, topics: TopicManager, *, limit: TopicRateLimit | None = None) -> None:
        self.topics = topics
        self.limit = limit or TopicRateLimit(GROUP_MESSAGES_PER_MINUTE)

    @property
    def bot(self) -> Bot:
        return self.topics.bot

    @property
    def chat_id(self) -> int:
        return self.topics.staff_chat_id

    async def send(self, row: OutboxItem) -> Delivered | None:
        """Deliver one row into its topic (see the module docstring)."""
        if row.kind == "queue_digest":
            await self._digest(row)
            return None
        try:
            conversation_id = int(row.payload["conversation_id"])
        except (KeyError, TypeError, ValueError):
            raise Undeliverable(f"staff row without a conversation: {row.id}") from None
        wait = await self.limit.wait()
        if wait > 0:
            raise RetryLater(wait, "staff group message limit")
        try:
            if row.kind == "staff_handoff":
                await self.topics.in_topic(conversation_id, self._alert(row))
                await self.topics.refresh_card(conversation_id)
            elif row.kind == "staff_card":  # its own row: it may wait for a rename slot
                await self.topics.refresh_card(conversation_id, may_wait=True)
            elif row.kind == "staff_case":
                await self.topics.in_topic(conversation_id, self._case(row))
            elif row.kind == "staff_edit":
                await self._edit(row)
            elif row.kind == "staff_relay":
                await self.topics.in_topic(conversation_id, self._relay(row, conversation_id))
            elif row.kind == "staff_answer":
                await self._send_answer(row, conversation_id)
            elif row.kind == "staff_event":  # a taxpayer's step: withdrawn, pages added
                await self.topics.in_topic(conversation_id, self._line(row))
                await self.topics.refresh_card(conversation_id)
            elif row.kind == "staff_complaint":
                await self.topics.in_topic(conversation_id, self._complaint(row))
            elif row.kind == "staff_console_reply":  # a reply written in the web console
                await self.topics.in_topic(conversation_id, self._console_reply(row))
            elif row.kind == "staff_relay_text":  # a web-chat taxpayer's message
                await self.topics.in_topic(conversation_id, self._relay_text(row))
            else:
                raise Undeliverable(f"unknown staff row kind {row.kind!r}")
        except TelegramRetryAfter as e:
            raise RetryLater(float(e.retry_after), "Telegram flood control") from e
        except (TelegramForbiddenError, TelegramNotFound) as e:
            raise Undeliverable(f"staff group: {type(e).__name__}: {e.message}") from e
        return None  # not a message of the taxpayer's conversation

    def _line(self, row: OutboxItem) -> Callable[[int], Awaitable[object]]:
        text = str(row.payload.get("text") or "")
        if row.payload.get("closed"):
            text += CLOSED_MARK

        async def send(thread: int) -> object:
            return await self.bot.send_message(self.chat_id, text, message_thread_id=thread)

        return send

    def _alert(self, row: OutboxItem) -> Callable[[int], Awaitable[object]]:
        reason = str(row.payload.get("reason") or "")
        text = "🔔 纳税人请求人工服务"
        if reason:
            text += f"（{reason}）"
        if row.payload.get("closed"):
            text += CLOSED_MARK
        text += "。请在本话题回复；/bot 交还智能助手。"

        async def send(thread: int) -> object:
            return await self.bot.send_message(self.chat_id, text, message_thread_id=thread)

        return send

    def _console_reply(self, row: OutboxItem) -> Callable[[int], Awaitable[object]]:
        """What a staff member replied from the web console, so the topic shows the same
        conversation: "【工作台】王芳：…" and the names of the files sent."""
        text = f"【工作台】{row.payload.get('staff_name') or '工作人员'}："
        text += str(row.payload.get("text") or "")
        names = [str(n) for n in row.payload.get("documents") or []]
        if names:
            text += f"\n（附件：{'、'.join(names)}）"

        async def send(thread: int) -> object:
            return await self.bot.send_message(self.chat_id, text, message_thread_id=thread)

        return send

    def _relay_text(self, row: OutboxItem) -> Callable[[int], Awaitable[object]]:
        """What a web-chat taxpayer wrote while staff have the conversation (there is no
        Telegram message to copy): "【网页】纳税人：…" and the names of the files sent, which
        staff open in the console."""
        text = "【网页】纳税人：" + str(row.payload.get("text") or "")
        names = [str(n) for n in row.payload.get("files") or []]
        if names:
            text += f"\n（文件：{'、'.join(names)}，请在工作台查看）"
        if row.payload.get("closed"):
            text += CLOSED_MARK

        async def send(thread: int) -> object:
            return await self.bot.send_message(self.chat_id, text, message_thread_id=thread)

        return send

    def _complaint(self, row: OutboxItem) -> Callable[[int], Awaitable[object]]:
        """A complaint recorded as a supervisor follow-up, with its text and due day."""
        text = f"⚠️ 纳税人投诉（回访 #{row.payload.get('follow_up_id') or ''}"
        due = row.payload.get("due_at")
        if due:
            text += f"，须于 {format_deadline(datetime.fromisoformat(due))}（北京时间）前答复"
        text += "）"
        if row.payload.get("closed"):
            text += CLOSED_MARK
        text += f"：\n{row.payload.get('text') or '（无文字）'}"
        text += "\n负责人处理后用 main.py cases follow-up-close 关闭。"

        async def send(thread: int) -> object:
            return await self.bot.send_message(self.chat_id, text, message_thread_id=thread)

        return send

    async def _digest(self, row: OutboxItem) -> None:
        """The morning queue digest, into the General topic (no thread)."""
        wait = await self.limit.wait()
        if wait > 0:
            raise RetryLater(wait, "staff group message limit")
        try:
            cases = [
                (
                    TopicCase(
                        str(c["number"]),
                        str(c.get("title") or ""),
                        str(c["status"]),
                        datetime.fromisoformat(c["deadline_at"]) if c.get("deadline_at") else None,
                    ),
                    c.get("due"),
                )
                for c in row.payload.get("cases") or []
            ]
        except (KeyError, TypeError, ValueError):
            raise Undeliverable(f"queue digest with a bad payload: {row.id}") from None
        text = "☀️ 早安！今日案件队列\n" + render_queue(cases)
        try:
            await self.bot.send_message(self.chat_id, text)
        except TelegramRetryAfter as e:
            raise RetryLater(float(e.retry_after), "Telegram flood control") from e
        except (TelegramForbiddenError, TelegramNotFound) as e:
            raise Undeliverable(f"staff group: {type(e).__name__}: {e.message}") from e

    async def _send_answer(self, row: OutboxItem, conversation_id: int) -> None:
        """The taxpayer answered a staff question (with the bot): the answer in the topic,
        and the card shows the case in progress again."""
        text = f"💬 纳税人回复了补充询问（案件 {row.payload.get('case_number') or ''}）："
        text += f"\n{row.payload.get('text') or '（无文字）'}"
        files = int(row.payload.get("files") or 0)
        if files:
            text += f"\n📎 另附 {files} 个文件，已存入案件。"

        async def send(thread: int) -> object:
            return await self.bot.send_message(self.chat_id, text, message_thread_id=thread)

        await self.topics.in_topic(conversation_id, send)
        await self.topics.refresh_card(conversation_id)

    async def _edit(self, row: OutboxItem) -> None:
        """The taxpayer edited a relayed text: edit its copy in the topic."""
        try:
            await self.bot.edit_message_text(
                text=str(row.payload.get("text") or ""),
                chat_id=self.chat_id,
                message_id=int(row.payload["message_id"]),
            )
        except TelegramBadRequest as e:
            if "not modified" not in e.message:
                raise Undeliverable(f"edit of the topic copy: {e.message}") from e

    def _case(self, row: OutboxItem) -> Callable[[int], Awaitable[object]]:
        number = str(row.payload.get("case_number") or "")
        text = f"🆕 新案件 {number} {row.payload.get('title') or ''}"
        if "verified" in row.payload:  # (rows queued before verification existed lack it)
            text += "（已验证）" if row.payload["verified"] else "（未验证：请核对承诺书）"
        if row.payload.get("period"):
            text += f"\n所属期：{row.payload['period']}"
        deadline = row.payload.get("deadline_at")
        if deadline:
            text += f"\n截止：{format_deadline(datetime.fromisoformat(deadline))}（北京时间）"
        text += "\n认领后可用 /complete、/reject、/ask 加案件号办理。"
        markup = staff_case_keyboard(number, row.payload.get("actions") or ("claim",))

        async def send(thread: int) -> object:
            return await self.bot.send_message(
                self.chat_id, text, message_thread_id=thread, reply_markup=markup
            )

        return send

    def _relay(self, row: OutboxItem, conversation_id: int) -> Callable[[int], Awaitable[object]]:
        from_chat = int(row.payload["from_chat_id"])
        message_id = int(row.payload["message_id"])
        text = row.payload.get("caption") or ""
        closed = bool(row.payload.get("closed"))
        if closed and text:  # a photo's or document's caption carries the mark
            text = f"{CLOSED_PREFIX}{text}"
        quoted = row.payload.get("reply_to")
        reply = (
            ReplyParameters(message_id=int(quoted), allow_sending_without_reply=True)
            if quoted
            else None
        )
        long_caption = len(text.encode("utf-16-le")) // 2 > CAPTION_LIMIT

        async def send(thread: int) -> object:
            if long_caption:  # a photo's or document's caption over the limit: cut, not lost
                head, rest = _split_caption(text)
                copied = await self.bot.copy_message(
                    self.chat_id,
                    from_chat,
                    message_id,
                    message_thread_id=thread,
                    caption=head,
                    reply_parameters=reply,
                )
                await self.bot.send_message(
                    self.chat_id,
                    f"（续上条说明）{rest}",
                    message_thread_id=thread,
                    reply_to_message_id=copied.message_id,
                )
            else:
                copied = await self.bot.copy_message(
                    self.chat_id,
                    from_chat,
                    message_id,
                    message_thread_id=thread,
                    caption=text if closed and text else None,  # None: the original
                    reply_parameters=reply,
                )
                if closed and not text:  # a text (or bare file) cannot take a caption
                    await self.bot.send_message(
                        self.chat_id,
                        CLOSED_NOTE,
                        message_thread_id=thread,
                        reply_to_message_id=copied.message_id,
                    )
            try:
                await self.topics.store.record_relay(
                    conversation_id, "to_staff", message_id, self.chat_id, copied.message_id
                )
            except Exception:  # the copy is there; only replies/edits lose their link
                log.exception("relay of message %s not recorded", message_id)
            return copied

        return send


def _split_caption(text: str) -> tuple[str, str]:
    head = text
    while len(head.encode("utf-16-le")) // 2 > CAPTION_LIMIT:
        head = head[: len(head) - max(1, (len(head.encode("utf-16-le")) // 2 - CAPTION_LIMIT))]
    return head, text[len(head) :]


async def run_staff_outbox_worker(
    runtime: DeskRuntime,
    bot: Bot,
    staff_chat_id: int,
    store: TopicStore,
    stop: asyncio.Event,
    *,
    poll_interval: float = 0.5,
    batch_size: int = 30,
    limit: TopicRateLimit | None = None,
    messages: TopicRateLimit | None = None,
) -> None:
    """Send the desk's `telegram_staff` outbox rows into the staff supergroup until `stop`.
    `limit`: new topics a minute; `messages`: messages a minute into the group."""
    from desk.outbox import OutboxWorker, serve
    from desk.services import STAFF_CHANNEL

    sender = StaffTopicSender(TopicManager(bot, staff_chat_id, store, limit=limit), limit=messages)
    worker = OutboxWorker(
        runtime.sessions,
        sender,
        channel=STAFF_CHANNEL,
        batch_size=batch_size,
        poll_interval=poll_interval,
        clock=runtime.clock,
    )
    await serve(runtime.engine, worker, stop, name=f"staff outbox worker (chat {staff_chat_id})")


def render_queue(cases: list[tuple[TopicCase, str | None]]) -> str:
    """The queue digest for the General topic: new, due-soon and overdue cases with their
    deadlines in Beijing time."""
    new = [c for c, _ in cases if c.status == "queued"]
    soon = [c for c, due in cases if due == "due_soon"]
    overdue = [c for c, due in cases if due == "overdue"]
    if not (new or soon or overdue):
        return "📋 案件队列：没有待受理、即将到期或已超期的案件。"

    def line(c: TopicCase) -> str:
        due = f"，截止 {format_deadline(c.deadline_at)}" if c.deadline_at else ""
        return f"  · {c.number} {c.title}（{STATUS_TEXT.get(c.status, c.status)}{due}）"

    parts = ["📋 案件队列（北京时间）"]
    for title, group in (("🔴 已超期", overdue), ("🟠 即将到期", soon), ("🆕 待受理", new)):
        if group:
            parts.append(f"{title}（{len(group)}）")
            parts.extend(line(c) for c in group)
    return "\n".join(parts)
