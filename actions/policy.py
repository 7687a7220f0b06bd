"""Which action answers a message: button payloads, commands, the active form, rules.

Priority, highest first (as Rasa's RulePolicy with forms):
1. cancel / hand-over / payload-only intents (rate, classify_file, submit_case, ...);
2. a staff question waiting for an answer (the message goes back to the case);
3. files (document intake);
4. the answer to a yes/no the bot just asked (confirm submit, offer a person, which item);
5. the active form (interrupted by FAQ/status/greetings, then re-asked);
6. a request intent opens its case form;
7. `data/rules.yml` (intent → action); anything else is the fallback.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from actions.domain import Domain
from actions.tracker import FORM_SLOTS, Tracker

PAYLOAD_RE = re.compile(r"^/(?P<intent>[A-Za-z_][A-Za-z0-9_]*)(?P<data>\{.*\})?$", re.S)

# Telegram-style commands and short words that need no NLU.
COMMANDS: dict[str, str] = {
    "start": "greet",
    "help": "help",
    "status": "check_status",
    "cancel": "cancel_request",
    "human": "request_human",
}
SHORTCUTS: dict[str, str] = {
    "取消": "cancel_request",
    "转人工": "request_human",
    "人工": "request_human",
    "人工服务": "request_human",
    "提交": "submit_case",
    "进度": "check_status",
}
RESERVED_KEYS = frozenset({"text", "intent", "intent_ranking", "entities"})

DIRECT: dict[str, str] = {
    "cancel_request": "action_cancel",
    "request_human": "action_hand_over",
    "rate": "action_rate",
    "classify_file": "action_classify_file",
    "submit_case": "action_submit_case",
    "continue_upload": "action_continue_upload",
    "choose_case_type": "case_form",
    "show_checklist": "action_show_checklist",
    "continue_case": "case_form_reprompt",
}
# Intents that interrupt a form: answered, then the form question is asked again.
FORM_INTERRUPTS = frozenset(
    {
        "faq_office_hours",
        "faq_online_services",
        "ask_policy",
        "check_status",
        "greet",
        "thank",
        "help",
        "complaint",
        "goodbye",
    }
)
# While a staff question waits, these still do what they say; anything else is the answer.
NOT_AN_ANSWER = frozenset({"check_status", "request_human", "rate", "cancel_request"})
FALLBACK_INTENTS = frozenset({"nlu_fallback", "out_of_scope"})


def parse_payload(text: str) -> dict[str, Any] | None:
    """`/intent{"k": "v"}` (button payloads, commands) → a parse dict, without NLU.
    Data keys become entities and top-level keys. Returns None when `text` is no payload."""
    match = PAYLOAD_RE.match(text.strip())
    if not match:
        return None
    intent = match.group("intent")
    intent = COMMANDS.get(intent.lower(), intent)
    data: dict[str, Any] = {}
    if match.group("data"):
        try:
            loaded = json.loads(match.group("data"))
        except json.JSONDecodeError:
            return None
        if not isinstance(loaded, dict):
            return None
        data = loaded
    parse: dict[str, Any] = {
        "text": text,
        "intent": {"name": intent, "confidence": 1.0},
        "intent_ranking": [{"name": intent, "confidence": 1.0}],
        "entities": [{"entity": k, "value": v, "extractor": "payload"} for k, v in data.items()],
        "payload": data,
    }
    parse.update({k: v for k, v in data.items() if k not in RESERVED_KEYS})
    return parse


def shortcut(text: str) -> dict[str, Any] | None:
    """Exact short words ("取消", "转人工", "提交") → a parse dict, without NLU."""
    key = text.strip().strip("。.!！?？ ")
    intent = SHORTCUTS.get(key)
    if intent is None:
        return None
    return {
        "text": text,
        "intent": {"name": intent, "confidence": 1.0},
        "intent_ranking": [{"name": intent, "confidence": 1.0}],
        "entities": [],
    }


@dataclass(frozen=True)
class Decision:
    """The action to run, and the action to run after it (a form re-ask) if any."""

    action: str
    then: str | None = None


class Policy:
    """Rules and form priority; see the module docstring."""

    def __init__(self, domain: Domain) -> None:
        self.domain = domain
        self.rules = {r.intent: r.action for r in domain.rules}

    def decide(self, tracker: Tracker) -> Decision:
        """The next action for the latest message of `tracker`."""
        msg = tracker.latest_message
        intent = tracker.latest_intent or "nlu_fallback"
        has_files = bool(msg.get("files") or msg.get("rejected_files"))

        if intent in DIRECT:
            return Decision(DIRECT[intent])
        if tracker.pending_case and intent not in NOT_AN_ANSWER:
            return Decision("action_answer_case")
        if has_files:
            return Decision("action_attach_document")
        awaiting = self._awaiting(tracker, intent)
        if awaiting:
            return Decision(awaiting)
        if tracker.active_form:
            if intent in FORM_INTERRUPTS and not self._has_form_entities(tracker):
                action = self.rules.get(intent, "action_default_fallback")
                return Decision(action, then="case_form_reprompt")
            return Decision("case_form")
        if self.domain.case_type_for_intent(intent) is not None:
            return Decision("case_form")
        if intent in self.rules:
            return Decision(self.rules[intent])
        return Decision("action_default_fallback")

    @staticmethod
    def _awaiting(tracker: Tracker, intent: str) -> str | None:
        if intent not in ("affirm", "deny"):
            return None
        yes = intent == "affirm"
        if tracker.awaiting == "confirm_submit":
            return "action_submit_case" if yes else "action_continue_upload"
        if tracker.awaiting == "offer_human":
            return "action_hand_over" if yes else "action_decline"
        if tracker.awaiting == "classify_file":
            return "action_classify_file"
        if not tracker.awaiting and intent == "deny" and tracker.fallback_count:
            return "action_decline"
        return None

    @staticmethod
    def _has_form_entities(tracker: Tracker) -> bool:
        return any(
            e.get("entity") in FORM_SLOTS for e in tracker.latest_message.get("entities", [])
        )
