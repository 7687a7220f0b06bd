"""In-memory fakes of the dialogue's ports, for tests and for running the dialogue without a
trained model or a database (never used by the composition root in production)."""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, ClassVar

from actions.channel import InboundFile, InboundMessage, Reply, SharedContact
from actions.domain import Domain
from actions.engine import DialogueEngine
from actions.ports import (
    CaseSummary,
    ComplaintRecorded,
    ConversationState,
    GatewayError,
    Handoff,
    IdCheck,
    OfficeDay,
    Requester,
    SubmittedCase,
)
from actions.stores import InMemoryTrackerStore
from taxrules.errors import InvalidTaxpayerIdError
from taxrules.ids import clean_taxpayer_id, validate_taxpayer_id
from taxrules.masking import mask_taxpayer_id
from taxrules.periods import PeriodReading, read_period
from testing.samples import BAD_ID, GOOD_ID


def parse(
    intent: str, confidence: float = 0.95, text: str = "", **entities: Any
) -> dict[str, Any]:
    """A Rasa-shaped parse dict. Entity values may be a value or a dict of entity fields
    (e.g. `taxpayer_id={"value": "9165…1B", "invalid": True, "reason": "…"}`)."""
    ents = []
    for name, value in entities.items():
        ent = {"entity": name, "extractor": "fake"}
        ent.update(value if isinstance(value, dict) else {"value": value})
        ents.append(ent)
    return {
        "text": text,
        "intent": {"name": intent, "confidence": confidence},
        "intent_ranking": [{"name": intent, "confidence": confidence}],
        "entities": ents,
    }


class FakeInterpreter:
    """Scripted NLU: exact (Simplified) text → parse dict; unknown text → nlu_fallback."""

    def __init__(
        self,
        script: Mapping[str, dict[str, Any]] | None = None,
        default: Callable[[str], dict[str, Any]] | None = None,
    ) -> None:
        self.script = dict(script or {})
        self.default = default
        self.seen: list[str] = []

    async def aparse(self, text: str) -> dict[str, Any]:
        """The scripted parse of `text`."""
        self.seen.append(text)
        if text in self.script:
            result = dict(self.script[text])
        elif self.default is not None:
            result = self.default(text)
        else:
            result = parse("nlu_fallback", 0.2)
        result["text"] = text
        return result


class FakeNormalizers:
    """Small normalisers for tests (the real ones live in `taxrules`): the real taxpayer-ID
    check and mask, numeric periods and a few relative ones, a short tax-type list."""

    TAX_WORDS: Mapping[str, str] = {
        "增值税": "vat",
        "企业所得税": "cit",
        "个税": "iit",
        "个人所得税": "iit",
        "印花税": "stamp",
    }

    def tax_period(self, text: str, today: date) -> PeriodReading | None:
        """`taxrules.periods.read_period` (pure and cheap: no model needed)."""
        return read_period(text, today)

    def taxpayer_id(self, code: str) -> IdCheck:
        """`taxrules.ids.validate_taxpayer_id`."""
        try:
            return IdCheck(True, validate_taxpayer_id(code), None)
        except InvalidTaxpayerIdError as exc:
            return IdCheck(False, clean_taxpayer_id(code), exc.user_message)

    def tax_type(self, text: str) -> str | None:
        """A few tax words."""
        return next((k for w, k in self.TAX_WORDS.items() if w in text), None)

    def amount(self, text: str) -> Decimal | None:
        """`3000元`, `1.25万`."""
        m = re.search(r"(\d+(?:\.\d+)?)\s*(万)?", text.replace(",", ""))
        if not m:
            return None
        try:
            value = Decimal(m.group(1))
        except InvalidOperation:
            return None
        return value * 10000 if m.group(2) else value

    def mask(self, code: str) -> str:
        """`taxrules.masking.mask_taxpayer_id`."""
        return mask_taxpayer_id(code)


def add_working_days(start: date, days: int) -> date:
    """Weekdays only (the desk also knows holidays and 调休)."""
    day = start
    while days > 0:
        day += timedelta(days=1)
        if day.weekday() < 5:
            days -= 1
    return day


@dataclass
class FakeCase:
    """A case held by `FakeGateway`."""

    case_id: str
    requester: Requester
    case_type: str
    status: str = "draft"
    slots: dict[str, str] = field(default_factory=dict)
    files: dict[str, list[int]] = field(default_factory=dict)
    number: str | None = None
    deadline: date | None = None
    staff_question: str | None = None
    answers: list[tuple[str, list[int]]] = field(default_factory=list)
    rating: str | None = None
    note: str | None = None
    reason: str | None = None
    closed_on: date | None = None
    documents: tuple[str, ...] = ()
    added: list[int] = field(default_factory=list)  # files added after submitting

    def summary(self) -> CaseSummary:
        return CaseSummary(
            self.number or "",
            self.case_type,
            self.status,
            self.deadline,
            self.staff_question,
            note=self.note,
            reason=self.reason,
            closed_on=self.closed_on,
            documents=self.documents,
        )


FAKE_OFFICE_HOURS = "工作日 9:00–12:00、13:30–17:30，法定节假日除外"


class FakeGateway:
    """The case backend in memory; records every call in `calls`."""

    SLA: ClassVar[Mapping[str, int]] = {
        "return_correction": 1,
        "tax_certificate": 1,
        "invoice": 2,
        "refund": 5,
        "registration_change": 3,
    }

    def __init__(self, today: Callable[[], date] = date.today, first_number: int = 123) -> None:
        self.today = today
        self.cases: dict[str, FakeCase] = {}
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.states: dict[str, ConversationState] = {}
        self.review: list[tuple[str, str]] = []
        self.complaints: list[tuple[str, str, date]] = []  # (conversation key, text, due)
        self.holidays: dict[date, str] = {}  # what office_days calls holidays
        self._next = first_number
        self.fail_next: str | None = None
        # verification: phone -> taxpayer IDs, code -> taxpayer ID, conversation -> verified
        self.handlers: dict[str, list[str]] = {}
        self.codes: dict[str, str] = {}
        self.verified: dict[str, set[str]] = {}
        # what `hand_over` answers: no staff chat, open now (tests set others)
        self.handoff = Handoff(
            staff_chat=False, open_now=True, next_opening=None, hours=FAKE_OFFICE_HOURS
        )

    def _call(self, name: str, *args: Any) -> None:
        self.calls.append((name, args))
        if self.fail_next == name:
            self.fail_next = None
            raise GatewayError("系统暂时无法处理，请稍后再试。")

    def called(self, name: str) -> list[tuple[Any, ...]]:
        """Arguments of every call of `name`."""
        return [args for n, args in self.calls if n == name]

    async def open_draft(
        self, requester: Requester, case_type: str, slots: Mapping[str, str]
    ) -> str:
        self._call("open_draft", requester, case_type, dict(slots))
        if not slots.get("taxpayer_id"):
            raise AssertionError("the desk needs the taxpayer ID to open a case")
        case_id = f"draft-{len(self.cases) + 1}"
        self.cases[case_id] = FakeCase(case_id, requester, case_type, slots=dict(slots))
        return case_id

    async def set_slots(self, case_id: str, slots: Mapping[str, str]) -> None:
        self._call("set_slots", case_id, dict(slots))
        self.cases[case_id].slots.update(slots)

    async def attach_file(
        self, case_id: str, attachment_id: int, checklist_item: str, *, requester: Requester
    ) -> None:
        self._call("attach_file", case_id, attachment_id, checklist_item)
        self.cases[case_id].files.setdefault(checklist_item, []).append(attachment_id)

    async def submit(self, case_id: str) -> SubmittedCase:
        self._call("submit", case_id)
        case = self.cases[case_id]
        case.status = "queued"
        case.number = f"TX-{self.today().year}-{self._next:06d}"
        self._next += 1
        case.deadline = add_working_days(self.today(), self.SLA.get(case.case_type, 1))
        return SubmittedCase(case.number, case.deadline)

    async def cancel(self, case_id: str, *, requester: Requester) -> None:
        self._call("cancel", case_id)
        self.cases[case_id].status = "cancelled"

    def _mine(self, requester: Requester) -> list[FakeCase]:
        return [
            c
            for c in self.cases.values()
            if c.requester.conversation_key == requester.conversation_key and c.number
        ]

    def _case(self, requester: Requester, number: str) -> FakeCase:
        for c in self._mine(requester):
            if c.number == number.strip().upper():
                return c
        raise GatewayError(f"没有找到案件 {number}。")

    async def list_cases(
        self, requester: Requester, *, taxpayer_id: str | None
    ) -> Sequence[CaseSummary]:
        self._call("list_cases", requester)
        mine = self._mine(requester)
        open_cases = [c for c in mine if c.status in ("queued", "in_progress", "waiting_taxpayer")]
        results = [c for c in mine if c.status in ("done", "rejected")]
        return [
            *(c.summary() for c in sorted(open_cases, key=lambda c: c.number or "", reverse=True)),
            *(
                c.summary()
                for c in sorted(
                    results, key=lambda c: (c.closed_on or date.min, c.number or ""), reverse=True
                )[:5]
            ),
        ]

    async def is_verified(self, requester: Requester, taxpayer_id: str) -> bool:
        self._call("is_verified", requester, taxpayer_id)
        return taxpayer_id in self.verified.get(requester.conversation_key, set())

    async def verify_contact(
        self, requester: Requester, phone: str, contact_user_id: str | None
    ) -> Sequence[str]:
        self._call("verify_contact", requester, phone, contact_user_id)
        if contact_user_id != requester.user_id:
            raise GatewayError("只能用您本人的手机号验证。")
        ids = self.handlers.get(phone, [])
        if not ids:
            raise GatewayError("手机号不在办税人员名单中。")
        self.verified.setdefault(requester.conversation_key, set()).update(ids)
        return [mask_taxpayer_id(t) for t in ids]

    async def verify_code(self, requester: Requester, code: str) -> str:
        self._call("verify_code", requester, code)
        tax_id = self.codes.pop(code, None)
        if tax_id is None:
            raise GatewayError("验证码不对或已过期。")
        self.verified.setdefault(requester.conversation_key, set()).add(tax_id)
        return mask_taxpayer_id(tax_id)
    async def case_status(
        self, requester: Requester, case_number: str, *, taxpayer_id: str | None
    ) -> CaseSummary:
        self._call("case_status", requester, case_number)
        return self._case(requester, case_number).summary()

    async def withdraw(
        self, requester: Requester, case_number: str, *, taxpayer_id: str | None
    ) -> None:
        self._call("withdraw", requester, case_number)
        case = self._case(requester, case_number)
        if case.status != "queued":
            raise GatewayError(f"案件 {case.number} 工作人员已经开始办理，不能在这里撤回了。")
        case.status = "cancelled"

    async def add_files(
        self,
        requester: Requester,
        case_number: str,
        attachment_ids: Sequence[int],
        *,
        taxpayer_id: str | None,
    ) -> None:
        self._call("add_files", requester, case_number, list(attachment_ids))
        case = self._case(requester, case_number)
        if case.status not in ("queued", "in_progress", "waiting_taxpayer"):
            raise GatewayError(f"案件 {case.number} 已经办结，不能再补充材料。")
        case.added.extend(attachment_ids)

    async def answer_question(
        self,
        requester: Requester,
        case_number: str,
        text: str,
        attachment_ids: Sequence[int],
        *,
        taxpayer_id: str | None,
    ) -> None:
        self._call("answer_question", requester, case_number, text, list(attachment_ids))
        for case in self.cases.values():
            if case.number == case_number:
                case.answers.append((text, list(attachment_ids)))
                case.status = "in_progress"
                case.staff_question = None

    async def rate(
        self, requester: Requester, case_number: str, level: str, *, taxpayer_id: str | None
    ) -> None:
        self._call("rate", requester, case_number, level)
        for case in self.cases.values():
            if case.number == case_number:
                case.rating = level

    async def hand_over(self, requester: Requester, reason: str) -> Handoff:
        self._call("hand_over", requester, reason)
        self.states[requester.conversation_key] = "human"
        return self.handoff

    async def conversation_state(self, requester: Requester) -> ConversationState:
        self._call("conversation_state", requester)
        return self.states.get(requester.conversation_key, "bot")

    async def office_days(self, start: date, days: int) -> list[OfficeDay]:
        """Weekdays open, weekends closed, and the `holidays` a test sets ({day: name}):
        closed, except those named "…调休" (working days)."""
        out = []
        for i in range(days):
            day = start + timedelta(days=i)
            name = self.holidays.get(day)
            is_open = name.endswith("调休") if name else day.weekday() < 5
            out.append(OfficeDay(day, is_open, name))
        return out

    async def record_complaint(
        self, requester: Requester, text: str, *, working_days: int
    ) -> ComplaintRecorded:
        self._call("record_complaint", requester, text, working_days)
        due = add_working_days(self.today(), working_days)
        self.complaints.append((requester.conversation_key, text, due))
        return ComplaintRecorded(len(self.complaints), due)

    async def add_review_item(
        self, requester: Requester, text: str, parse: Mapping[str, Any], *, reason: str
    ) -> None:
        self._call("add_review_item", requester, text, reason)
        self.review.append((requester.conversation_key, text))

    # test helpers (what staff do at the desk)
    def by_number(self, case_number: str) -> FakeCase:
        """The submitted case with that number."""
        return next(c for c in self.cases.values() if c.number == case_number)

    def claim(self, case_number: str) -> None:
        """A staff member takes the case."""
        self.by_number(case_number).status = "in_progress"

    def complete(self, case_number: str, note: str, *documents: str) -> None:
        """Staff finish the case with a note (and produced documents)."""
        case = self.by_number(case_number)
        case.status, case.note, case.documents = "done", note, tuple(documents)
        case.closed_on = self.today()

    def reject(self, case_number: str, reason: str) -> None:
        """Staff reject the case with a reason."""
        case = self.by_number(case_number)
        case.status, case.reason, case.closed_on = "rejected", reason, self.today()

    def ask(self, case_number: str, question: str) -> None:
        """Staff ask the taxpayer a question."""
        for case in self.cases.values():
            if case.number == case_number:
                case.status = "waiting_taxpayer"
                case.staff_question = question


class Chat:
    """A taxpayer in one chat of a dialogue engine (`say`, `press`, `send_files`)."""

    def __init__(self, engine: Any, chat_id: str = "100") -> None:
        self.engine = engine
        self.chat_id = chat_id
        self.next_file = 1

    async def say(self, text: str | None = None, **kw: Any) -> list[Reply]:
        return list(
            await self.engine.handle(
                InboundMessage("telegram", self.chat_id, "u" + self.chat_id, text=text, **kw)
            )
        )

    async def press(self, payload: str) -> list[Reply]:
        return await self.say(payload, is_button=True)

    async def share_contact(self, phone: str, user_id: str | None = None) -> list[Reply]:
        """Share a contact card (default: the chat user's own, as the contact button does)."""
        owner = "u" + self.chat_id if user_id is None else user_id
        return await self.say(None, contact=SharedContact(phone, owner))

    def files(self, n: int, media_type: str = "image/jpeg") -> tuple[InboundFile, ...]:
        out = []
        for _ in range(n):
            out.append(InboundFile(self.next_file, media_type, None, 1000))
            self.next_file += 1
        return tuple(out)

    async def send_files(self, n: int, caption: str | None = None, **kw: Any) -> list[Reply]:
        return await self.say(caption, files=self.files(n), **kw)

    async def tracker(self) -> Any:
        """The chat's tracker as the engine keeps it."""
        tracker = await self.engine.tracker("telegram", self.chat_id)
        assert tracker is not None
        return tracker


def text_of(replies: Sequence[Reply]) -> str:
    return "\n".join(r.text for r in replies)


# ------------------------------------------------------------ the scripted dialogue

DATA = Path(__file__).resolve().parents[1] / "data"
SCRIPTED_TODAY = date(2026, 11, 27)  # a Friday
ID_1 = "91310115MA1K3YJ12G"

SCRIPTED_NLU: dict[str, dict[str, Any]] = {
    # §1 (the engine converts Traditional to Simplified before NLU)
    f"你好，公司上个月的增值税申报表填错了，要更正，统一社会信用代码{ID_1}": parse(
        "request_correction", tax_type="vat", tax_period="2026-10", taxpayer_id=ID_1
    ),
    # §2
    "我想改一下申报数据": parse("request_correction"),
    "个税，今年一季度": parse("provide_info", tax_type="iit", tax_period="2026-Q1"),
    BAD_ID: parse(
        "provide_info",
        taxpayer_id={"value": BAD_ID, "invalid": True, "reason": "这个代码的校验位不对"},
    ),
    GOOD_ID: parse("provide_info", taxpayer_id=GOOD_ID),
    # §5, §6
    "我的业务办得怎么样了": parse("check_status"),
    "对的": parse("affirm"),
    # §7
    "你好": parse("greet"),
    # §8
    "那个啥 就是上回那个东西": parse("nlu_fallback", 0.3),
    "哎呀说不清": parse("nlu_fallback", 0.2),
    # §9
    "周六大厅开门吗": parse("faq_office_hours"),
    "小规模纳税人现在有什么减免": parse("ask_policy"),
    # §10
    "算了不办了": parse("cancel_request"),
    # others
    "我要开完税证明": parse("request_tax_certificate"),
    "开完税证明，2021年": parse("request_tax_certificate", tax_period="2021"),
    "我要申领发票": parse("request_invoice"),
    "申请退税": parse("request_refund"),
    "3000元": parse("provide_info", amount="3000"),
    "谢谢": parse("thank"),
}


def make_scripted_engine(
    store: Any = None, gateway: FakeGateway | None = None, nlu: dict[str, Any] | None = None
) -> tuple[DialogueEngine, FakeGateway, FakeInterpreter]:
    """The dialogue engine over the scripted NLU (`SCRIPTED_NLU`, or `nlu`), a fake desk and
    the real domain from data/, on `SCRIPTED_TODAY` (the DIALOGUES.md scenarios' day)."""
    gw = gateway or FakeGateway(lambda: SCRIPTED_TODAY)
    interp = FakeInterpreter(nlu or SCRIPTED_NLU)
    engine = DialogueEngine(
        interp,
        gw,
        store if store is not None else InMemoryTrackerStore(),
        Domain.load(DATA),
        today=lambda: SCRIPTED_TODAY,
        normalizers=FakeNormalizers(),
        rng=random.Random(7),
    )
    return engine, gw, interp
