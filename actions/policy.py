"""Which action answers a message: button payloads, commands, the active form, rules.

Every intent → action pair is in `data/rules.yml` (read through `Domain.rules`); a rule's
`metadata` says when it applies. Priority, highest first (as Rasa's RulePolicy with forms):
1. `anytime` rules (cancel, hand-over, button payloads such as rate, classify_file, ...);
2. a staff question waiting for an answer (the message goes back to the case), unless the
   rule of the intent is `not_an_answer`;
3. files (document intake);
4. the answer to a yes/no the bot just asked (confirm submit, offer a person, which item);
5. the active form (`interrupts_form` rules are answered, then the form asks again; a rule
   with `even_with_values` also when the message names form values, e.g. a 个税 question);
6. a request intent opens its case form;
7. the other rules; anything else is the fallback.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from actions.domain import CaseType, DocumentSpec, Domain
from actions.tracker import Tracker

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
    "验证": "verify",
    "验证身份": "verify",
    "身份验证": "verify",
    "我要验证": "verify",
    "认证": "verify",
    "实名认证": "verify",
    "绑定": "verify",
    "我要绑定": "verify",
    "绑定单位": "verify",
    "绑定企业": "verify",
    "绑定公司": "verify",
}
# A one-time verification code: "/verify 12345678", "验证码 12345678", "验证码：12345678".
VERIFY_CODE_RE = re.compile(r"^(?:/verify|验证码|验证)\s*[:：]?\s*(?P<code>[0-9A-Za-z]{6,8})$")
# Chat slang for goodbye that is all digits; any other bare number is not understood.
GOODBYE_NUMBERS = frozenset({"88", "886", "8888"})
BARE_NUMBER_RE = re.compile(r"^[0-9]{1,8}$")
# `contact` comes only from the channel (a shared contact card), never from typed text.
RESERVED_KEYS = frozenset({"text", "intent", "intent_ranking", "entities", "contact"})

FALLBACK_INTENTS = frozenset({"nlu_fallback", "out_of_scope"})
#: A case number as staff and notices write it (`TX-2026-000123`).
CASE_NUMBER_RE = re.compile(r"TX-\d{4}-\d{6}", re.I)
NEGATIONS = ("不是", "不对", "并非")
QUESTION_WORDS = ("什么", "哪", "怎么", "吗", "?", "？")


def case_number_in(text: str) -> str | None:
    """The first case number in `text`, upper-cased, or None."""
    match = CASE_NUMBER_RE.search(text or "")
    return match.group(0).upper() if match else None


def named_documents(text: str, case_type: CaseType) -> list[DocumentSpec]:
    """The checklist items `text` names (title or keyword, either script), in the order
    they appear: "这是承诺书" → [承诺书]; "不是承诺书，是发票" → [承诺书, 补充材料]."""
    found: list[tuple[int, DocumentSpec]] = []
    for doc in case_type.documents:
        words = (doc.title.zh_hans, doc.title.zh_hant, *doc.keywords)
        at = [text.find(w) for w in words if w and w in text]
        if at:
            found.append((min(at), doc))
    return [doc for _, doc in sorted(found, key=lambda f: f[0])]


def document_answer(text: str, case_type: CaseType, guess: DocumentSpec) -> DocumentSpec | None:
    """The checklist item a worded answer to "这个文件是<guess>吗？" means, or None: the
    last item named ("不是承诺书，是发票" → 补充材料); one item named after a negation and
    nothing else ("不是承诺书") means the only other item, if there is one."""
    named = named_documents(text, case_type)
    if not named:
        return None
    last = named[-1]
    if len(named) == 1 and last.key == guess.key and any(n in text for n in NEGATIONS):
        others = [d for d in case_type.documents if d.key != guess.key]
        return others[0] if len(others) == 1 else None
    return last


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


def payload(intent: str, data: Mapping[str, Any] | None = None) -> str:
    """A button payload `/intent{json}`, read back by `parse_payload` without NLU."""
    if not data:
        return f"/{intent}"
    return f"/{intent}{json.dumps(dict(data), ensure_ascii=False, separators=(',', ':'))}"


def verification_code(text: str) -> dict[str, Any] | None:
    """`/verify 12345678` or `验证码 12345678` (Simplified) → a `verify` parse with `code`."""
    match = VERIFY_CODE_RE.match(text.strip())
    if not match:
        return None
    code = match.group("code")
    return {
        "text": text,
        "intent": {"name": "verify", "confidence": 1.0},
        "intent_ranking": [{"name": "verify", "confidence": 1.0}],
        "entities": [{"entity": "code", "value": code, "extractor": "pattern"}],
        "code": code,
    }


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


def bare_number(text: str) -> dict[str, Any] | None:
    """A number alone ("1", "2") outside any button: not understood, with a reply that says
    so (`bare_number`), rather than whatever the classifier makes of a digit. Inside a form
    the form still reads it as an answer (an amount). "88"/"886" are chat goodbyes."""
    key = text.strip().strip("。.!！?？ ")
    if not BARE_NUMBER_RE.match(key) or key in GOODBYE_NUMBERS:
        return None
    return {
        "text": text,
        "intent": {"name": "nlu_fallback", "confidence": 1.0},
        "intent_ranking": [{"name": "nlu_fallback", "confidence": 1.0}],
        "entities": [],
        "bare_number": True,
    }


def redirect(parse: dict[str, Any], domain: Domain) -> dict[str, Any]:
    """Apply domain.yml `settings: redirects`: a request whose entity has a value the office
    does not take in chat ("退个税": request_refund with tax_type iit) becomes the question
    that says where to go (faq_iit). Returns the parse, changed or not."""
    intent = (parse.get("intent") or {}).get("name")
    for rule in domain.settings.get("redirects") or []:
        if rule.get("intent") != intent:
            continue
        values = {
            str(e.get("value"))
            for e in parse.get("entities") or []
            if e.get("entity") == rule.get("entity")
        }
        if str(rule.get("value")) in values:
            confidence = (parse.get("intent") or {}).get("confidence", 1.0)
            return {
                **parse,
                "intent": {"name": str(rule["to"]), "confidence": confidence},
                "redirected_from": intent,
            }
    return parse


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
        self.anytime = frozenset(r.intent for r in domain.rules if r.anytime)
        self.form_interrupts = frozenset(r.intent for r in domain.rules if r.interrupts_form)
        self.not_an_answer = frozenset(r.intent for r in domain.rules if r.not_an_answer)
        self.even_with_values = frozenset(r.intent for r in domain.rules if r.even_with_values)

    def decide(self, tracker: Tracker) -> Decision:
        """The next action for the latest message of `tracker`."""
        msg = tracker.latest_message
        intent = tracker.latest_intent or "nlu_fallback"
        has_files = bool(msg.get("files") or msg.get("rejected_files"))

        if intent in self.anytime:
            return Decision(self.rules[intent])
        if tracker.pending_case and intent not in self.not_an_answer:
            return Decision("action_answer_case")
        if has_files:
            return Decision("action_attach_document")
        awaiting = self._awaiting(tracker, intent) or self._file_answer(tracker)
        if awaiting:
            return Decision(awaiting)
        if tracker.active_form:
            if intent in self.form_interrupts and (
                intent in self.even_with_values or not self._has_form_entities(tracker)
            ):
                return Decision(self.rules[intent], then="case_form_reprompt")
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
        if tracker.awaiting == "queued":
            return "action_take_queued" if yes else "action_decline"
        if not tracker.awaiting and intent == "deny" and tracker.fallback_count:
            return "action_decline"
        return None

    def _file_answer(self, tracker: Tracker) -> str | None:
        """Words that name a checklist item answer "这个文件是承诺书吗？" as a button would
        ("这是承诺书", "是补充材料"); anything else is answered as usual and the question
        about the kept file is asked again (`forms.next_step`)."""
        if tracker.awaiting != "classify_file" or not tracker.active_form:
            return None
        case_type = self.domain.case_types.get(tracker.active_form)
        text = str(tracker.latest_message.get("text") or "")
        if case_type is None or not text or text.startswith("/"):
            return None
        if any(q in text for q in QUESTION_WORDS):  # "要交什么材料？" is a question
            return None
        return "action_classify_file" if named_documents(text, case_type) else None

    def _has_form_entities(self, tracker: Tracker) -> bool:
        slots = self.domain.form_slots
        return any(e.get("entity") in slots for e in tracker.latest_message.get("entities", []))
