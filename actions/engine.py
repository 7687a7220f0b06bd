"""The turn loop: normalise → NLU → policy → actions → responses.

Channels call `DialogueEngine.handle(InboundMessage) -> list[Reply]` and send the replies.
Messages of one conversation are handled one at a time (a per-conversation lock, the only one
a turn takes); different conversations run concurrently. A channel that sends the replies
itself passes `deliver=`: it is awaited under that lock, so one chat's replies go out in the
order its messages came in. Notice texts (completion, rejection, staff question) come
from the desk's outbox payloads (`desk.notices`, both scripts); the worker that delivers them
(`bot.notices`) reads the tracker's script and calls `note_staff_question`, so the tracker
knows that a staff question waits for an answer.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import opencc

from actions.actions import build_actions
from actions.base import Action, ActionContext, FormValidationAction
from actions.channel import Deliver, InboundMessage, Reply
from actions.clauses import answer_and_values, split_requests
from actions.dispatcher import CollectingDispatcher, merge_replies
from actions.domain import Domain
from actions.locks import KeyedLocks
from actions.policy import (
    Policy,
    bare_number,
    parse_payload,
    redirect,
    shortcut,
    verification_code,
)
from actions.ports import (
    CaseGateway,
    GatewayError,
    Interpreter,
    Normalizers,
    Requester,
    TrackerStore,
    conversation_key,
)
from actions.tracker import (
    Awaiting,
    ConversationStateSet,
    Event,
    FallbackCounted,
    PendingCase,
    RequestsQueued,
    Tracker,
)
from actions.validation import CaseFormValidation
from taxrules.masking import redact_taxpayer_ids

log = logging.getLogger(__name__)

MAX_ACTIONS_PER_TURN = 6
RANKING_KEPT = 5  # intent ranking entries kept in the tracker
TRADITIONAL_LANGUAGE_CODES = ("zh-hant", "zh-tw", "zh-hk", "zh-mo")


class ScriptConverter:
    """OpenCC converters, created once: t2s for NLU input and detection, and Simplified →
    Traditional for replies. The default `s2tw` writes 為/裡/著 as Taiwan and Hong Kong
    readers expect (plain `s2t` gives the rarer 爲/裏/着); `s2t` or `s2hk` can be passed."""

    def __init__(self, traditional_config: str = "s2tw") -> None:
        self._t2s = opencc.OpenCC("t2s")
        self._detect_s2t = opencc.OpenCC("s2t")
        self._s2t = opencc.OpenCC(traditional_config)

    def to_simplified(self, text: str) -> str:
        """Traditional → Simplified (ASCII passes through)."""
        return text if text.isascii() else str(self._t2s.convert(text))

    def to_traditional(self, text: str) -> str:
        """Simplified → Traditional (ASCII passes through)."""
        return text if text.isascii() else str(self._s2t.convert(text))

    def detect(self, text: str, previous: str, language_code: str | None = None) -> str:
        """`hant` when the text has Traditional-only characters, `hans` when it has
        Simplified-only ones, otherwise the previous script (or the client's language)."""
        if text and not text.isascii():
            if self.to_simplified(text) != text:
                return "hant"
            if str(self._detect_s2t.convert(text)) != text:
                return "hans"
        if previous:
            return previous
        if language_code and language_code.lower().startswith(TRADITIONAL_LANGUAGE_CODES):
            return "hant"
        return "hans"


@dataclass(frozen=True)
class DialogueData:
    """What the engine builds from a `Domain`: swapped as one reference (`use_domain`), so a
    turn that took it runs to its end on the same domain, actions and policy."""

    domain: Domain
    actions: dict[str, Action]
    policy: Policy


class DialogueEngine:
    """The channel-free dialogue. Build one per process and share it between channels.

    `use_domain` swaps the dialogue data (domain, actions, policy) between turns: each turn
    reads `self.data` once, so a turn in flight finishes on the data it started with
    (`actions.live.LiveDomain` calls it when the files under `data/` change)."""

    def __init__(
        self,
        interpreter: Interpreter,
        gateway: CaseGateway,
        tracker_store: TrackerStore,
        domain: Domain,
        *,
        today: Callable[[], date] = date.today,
        normalizers: Normalizers | None = None,
        rng: random.Random | None = None,
        traditional_config: str = "s2tw",
        form_validation: Callable[[ActionContext], FormValidationAction] = CaseFormValidation,
    ) -> None:
        """`today` is the clock for relative periods and deadlines; `normalizers` defaults to
        the rules of `taxrules`; `rng` picks response variants; `traditional_config` is the OpenCC
        configuration replies to Traditional writers are converted with; `form_validation`
        builds the `extract_<slot>`/`validate_<slot>` pairs of the case form (a subclass of
        `CaseFormValidation` adds slots)."""
        if normalizers is None:
            from actions.validation import NluNormalizers

            normalizers = NluNormalizers(today)
        self.interpreter = interpreter
        self.gateway = gateway
        self.store = tracker_store
        self.ctx = ActionContext(gateway=gateway, normalizers=normalizers, today=today)
        self._form_validation = form_validation
        self.data = self.prepare(domain)
        self.scripts = ScriptConverter(traditional_config)
        self.rng = rng or random.Random()
        self._locks = KeyedLocks()

    # ------------------------------------------------------------------ the dialogue data

    @property
    def domain(self) -> Domain:
        return self.data.domain

    @property
    def actions(self) -> dict[str, Action]:
        return self.data.actions

    @property
    def policy(self) -> Policy:
        return self.data.policy

    def prepare(self, domain: Domain) -> DialogueData:
        """The actions and the policy of `domain` (raises `DomainError` when the case forms
        ask a slot the form validation does not know); nothing is swapped."""
        actions = build_actions(self.ctx, domain, self._form_validation(self.ctx))
        return DialogueData(domain, actions, Policy(domain))

    def use_domain(self, domain: Domain) -> None:
        """Build the data of `domain` and swap it in (one reference: any thread may call
        this). The next turns use it; the turns running now finish on the previous one. When
        building fails the error propagates and the previous data stays."""
        self.data = self.prepare(domain)

    # ------------------------------------------------------------------ turns

    async def handle(
        self,
        msg: InboundMessage,
        *,
        deliver: Deliver | None = None,
        with_staff: Callable[[], Awaitable[None]] | None = None,
    ) -> list[Reply]:
        """One taxpayer message (text, button press, files/album) → the replies to send.
        Returns [] while a person owns the conversation (the channel still stores it).

        Turns of one conversation run one at a time. `deliver`, when given, is awaited with
        the replies (after the tracker is saved) before the next turn of the conversation
        starts; an error it raises propagates to the caller. `with_staff`, when given, is
        awaited after that, still under the lock, only when the conversation is with staff
        after the turn (the tracker's state; the hand-over turn included): the channel's
        staff relay, which a conversation with the bot does not need to look up."""
        key = conversation_key(msg.channel, msg.chat_id)
        async with self._locks.hold(key):
            replies, state = await self._turn(key, msg, self.data)
            if deliver is not None:
                await deliver(replies)
            if with_staff is not None and state == "human":
                await with_staff()
            return replies

    async def _turn(
        self, key: str, msg: InboundMessage, data: DialogueData
    ) -> tuple[list[Reply], str]:
        tracker = await self._load(key, msg.channel, msg.chat_id, msg.user_id)
        text = (msg.text or "").strip()
        tracker.script = self.scripts.detect(text, tracker.script, msg.language_code)
        if tracker.state == "human" and not await self._back_to_bot(tracker):
            tracker.add_turn("user", _turn_text(text, msg))
            await self._answer_while_human(tracker, msg)
            await self._save(tracker)
            return [], tracker.state
        parse = await self._parse(text, msg, data.domain)
        form = data.domain.case_types.get(tracker.active_form or "")
        if form is not None:  # "9165…，另外电话多少": the form takes the values too
            parse = answer_and_values(parse, form.slots)
        parse.pop("form_values", None)
        tracker.latest_message = parse
        tracker.add_turn("user", _turn_text(text, msg), _intent(parse))
        if parse.get("queued_requests"):
            self._apply(tracker, [RequestsQueued(tuple(parse["queued_requests"]))])
        replies = await self._run(tracker, data)
        for reply in replies:
            tracker.add_turn("bot", reply.text)
        await self._save(tracker)
        return replies, tracker.state

    async def _parse(self, text: str, msg: InboundMessage, domain: Domain) -> dict[str, Any]:
        files = [
            {
                "attachment_id": f.attachment_id,
                "media_type": f.media_type,
                "original_name": f.original_name,
            }
            for f in msg.files
        ]
        parse: dict[str, Any] | None = None
        simplified = self.scripts.to_simplified(text) if text else ""
        if msg.contact is not None:  # a contact card the channel received, not typed text
            parse = {
                "text": simplified,
                "intent": {"name": "share_contact", "confidence": 1.0},
                "entities": [],
            }
        if parse is None and text.startswith("/"):
            parse = parse_payload(text)
        if parse is None and simplified:
            parse = (
                verification_code(simplified) or shortcut(simplified) or bare_number(simplified)
            )
        if parse is None and simplified:
            try:
                parse = dict(await self.interpreter.aparse(simplified))
            except Exception:  # the NLU failing must not lose the turn: treat as not understood
                log.exception("NLU failed; handling the message as nlu_fallback")
                parse = None
        if parse is not None and simplified and not text.startswith("/"):
            try:  # a second request in the same message is queued (actions.clauses)
                parse = (
                    await split_requests(simplified, parse, self.interpreter.aparse, domain)
                    or parse
                )
            except Exception:
                log.exception("splitting the message into requests failed; taken whole")
            parse = redirect(parse, domain)
        if parse is None:
            name = "submit_document" if (files or msg.rejected_files) else "nlu_fallback"
            parse = {
                "text": simplified,
                "intent": {"name": name, "confidence": 1.0 if files else 0.0},
                "entities": [],
            }
        parse["intent_ranking"] = list(parse.get("intent_ranking") or [])[:RANKING_KEPT]
        parse["original_text"] = text
        parse["files"] = files
        parse["rejected_files"] = list(msg.rejected_files)
        parse["is_button"] = msg.is_button
        parse["contact"] = (
            {"phone": msg.contact.phone, "user_id": msg.contact.user_id} if msg.contact else None
        )
        return parse

    async def _run(self, tracker: Tracker, data: DialogueData) -> list[Reply]:
        dispatcher = self._dispatcher(tracker, data.domain)
        executed: list[str] = []
        try:
            await self._answer_extra_questions(tracker, dispatcher, executed, data)
            decision = data.policy.decide(tracker)
            queue: list[str] = [decision.action]
            then = decision.then
            while queue and len(executed) < MAX_ACTIONS_PER_TURN:
                name = queue.pop(0)
                action = data.actions.get(name)
                if action is None:
                    log.error("no action named %s", name)
                    break
                tracker.followup = None
                dispatcher.values = self._values(tracker)
                dispatcher.action = name
                events = await action.run(dispatcher, tracker, data.domain)
                executed.append(name)
                self._apply(tracker, events)
                if tracker.followup:
                    queue.append(tracker.followup)
                    tracker.followup = None
                elif not queue and then and tracker.active_form and tracker.state == "bot":
                    queue.append(then)
                    then = None
        except GatewayError as exc:
            dispatcher.utter_message(text=exc.user_message)
        except Exception:
            log.exception("action failed in conversation %s", tracker.conversation_key)
            dispatcher.utter_message(response="utter_error")
        if tracker.fallback_count and "action_default_fallback" not in executed:
            self._apply(tracker, [FallbackCounted(reset=True)])
        return merge_replies(dispatcher.messages)

    async def _answer_extra_questions(
        self,
        tracker: Tracker,
        dispatcher: CollectingDispatcher,
        executed: list[str],
        data: DialogueData,
    ) -> None:
        """The questions asked beside the message's first request or question
        (`actions.clauses`: "申领发票，顺便问下周六开门吗"): each answered from its own clauses,
        before the first is handled, so the turn still ends with the form's question."""
        message = tracker.latest_message
        extras = message.get("extra_questions") or []
        if not extras or tracker.pending_case or message.get("files"):
            return
        case_type = data.domain.case_type_for_intent(_intent(message))
        base = {
            k: v for k, v in message.items() if k not in ("extra_questions", "queued_requests")
        }
        try:
            for extra in extras:
                name = data.policy.rules.get(_intent(extra) or "")
                if name is None or name not in data.actions:
                    continue
                tracker.latest_message = {
                    **base,
                    "text": extra.get("text", ""),
                    "original_text": extra.get("text", ""),
                    "intent": extra.get("intent"),
                    "entities": list(extra.get("entities") or []),
                    "request_case_type": case_type.key if case_type is not None else None,
                }
                tracker.followup = None
                dispatcher.values = self._values(tracker)
                dispatcher.action = name
                events = await data.actions[name].run(dispatcher, tracker, data.domain)
                self._apply(tracker, events)
                tracker.followup = None
                executed.append(name)
        finally:
            tracker.latest_message = message

    # ------------------------------------------------------------------ notices

    async def note_staff_question(self, channel: str, chat_id: str, case_number: str) -> None:
        """Staff asked the taxpayer something (the desk's `case_question` notice, sent by the
        outbox worker): the next message answers `case_number` (§6)."""
        key = conversation_key(channel, chat_id)
        async with self._locks.hold(key):
            tracker = await self._load(key, channel, chat_id, "")
            self._apply(tracker, [PendingCase(case_number)])
            await self._save(tracker)

    async def note_taken_over(self, channel: str, chat_id: str) -> None:
        """A staff member wrote to the taxpayer from the topic and so took the conversation
        over (the desk already says `human` and tells the taxpayer): the bot stops answering
        (an open form waits, as after a hand-over)."""
        key = conversation_key(channel, chat_id)
        async with self._locks.hold(key):
            tracker = await self._load(key, channel, chat_id, "")
            self._apply(
                tracker,
                [ConversationStateSet("human"), Awaiting(None), FallbackCounted(reset=True)],
            )
            await self._save(tracker)

    async def hand_back(self, channel: str, chat_id: str) -> list[Reply]:
        """Staff (`/bot`) or an idle timeout ended the human service: the bot answers again."""
        return await self._notice(
            channel, chat_id, "utter_handed_back", {}, [ConversationStateSet("bot")]
        )

    async def tracker(self, channel: str, chat_id: str) -> Tracker | None:
        """The stored tracker of a conversation (for the console and tests)."""
        return await self.store.load(conversation_key(channel, chat_id))

    async def recent_intents(self, channel: str, chat_id: str, limit: int = 5) -> list[str]:
        """The intents of the taxpayer's last `limit` understood messages, oldest first (the
        staff topic's card shows them); [] for a conversation the dialogue has not seen."""
        tracker = await self.tracker(channel, chat_id)
        if tracker is None:
            return []
        found = [
            str(t["intent"]) for t in tracker.turns if t.get("role") == "user" and t.get("intent")
        ]
        return found[-limit:]

    async def _notice(
        self,
        channel: str,
        chat_id: str,
        response: str,
        values: dict[str, Any],
        events: list[Event],
        buttons: Any = None,
    ) -> list[Reply]:
        key = conversation_key(channel, chat_id)
        async with self._locks.hold(key):
            tracker = await self._load(key, channel, chat_id, "")
            self._apply(tracker, events)
            dispatcher = self._dispatcher(tracker, self.domain)
            dispatcher.utter_message(response=response, buttons=buttons, **values)
            for reply in dispatcher.messages:
                tracker.add_turn("bot", reply.text)
            await self._save(tracker)
            return list(dispatcher.messages)

    # ------------------------------------------------------------------ helpers

    async def _load(self, key: str, channel: str, chat_id: str, user_id: str) -> Tracker:
        tracker = await self.store.load(key)
        if tracker is None:
            tracker = Tracker(conversation_key=key, channel=channel, chat_id=chat_id)
        if user_id:
            tracker.user_id = user_id
        return tracker

    async def _save(self, tracker: Tracker) -> None:
        tracker.updated_at = time.time()
        await self.store.save(tracker)

    async def _answer_while_human(self, tracker: Tracker, msg: InboundMessage) -> None:
        """With staff, the bot stays quiet, but a message after a staff question still
        answers that case (§6), as it would with the bot."""
        number = tracker.pending_case
        if not number or msg.is_button or not (msg.text or msg.files):
            return
        requester = Requester(tracker.channel, tracker.chat_id, tracker.user_id)
        try:
            await self.gateway.answer_question(
                requester,
                number,
                msg.text or "",
                [f.attachment_id for f in msg.files],
                taxpayer_id=tracker.get_slot("taxpayer_id"),
            )
        except Exception:  # the message is stored and in the topic; staff see it there
            log.exception("answer to a staff question not recorded on the case")
            return
        self._apply(tracker, [PendingCase(None)])

    async def _back_to_bot(self, tracker: Tracker) -> bool:
        requester = Requester(tracker.channel, tracker.chat_id, tracker.user_id)
        try:
            state = await self.gateway.conversation_state(requester)
        except Exception:
            log.exception("conversation state unavailable; staying quiet")
            return False
        if state == "human":
            return False
        tracker.state = "bot"
        return True

    def _dispatcher(self, tracker: Tracker, domain: Domain) -> CollectingDispatcher:
        return CollectingDispatcher(
            domain,
            rng=self.rng,
            script=tracker.script,
            to_traditional=self.scripts.to_traditional,
            values=self._values(tracker),
        )

    def _values(self, tracker: Tracker) -> dict[str, Any]:
        values = {k: v for k, v in tracker.slots.items() if k != "taxpayer_id"}
        if tracker.get_slot("taxpayer_id"):
            values["taxpayer_id"] = self.ctx.normalizers.mask(str(tracker.get_slot("taxpayer_id")))
        return values

    @staticmethod
    def _apply(tracker: Tracker, events: list[Event]) -> None:
        tracker.apply(events)


def _intent(parse: dict[str, Any]) -> str | None:
    intent = parse.get("intent") or {}
    return intent.get("name")


def _turn_text(text: str, msg: InboundMessage) -> str:
    """What the tracker remembers of a user message: taxpayer IDs masked, files counted."""
    shown = redact_taxpayer_ids(text)
    if msg.contact is not None:
        shown = f"{shown} [contact]".strip()
    if msg.files:
        shown = f"{shown} [{len(msg.files)} file(s)]".strip()
    return shown or "[empty]"
