"""The dialogue's actions (rasa-sdk shape) besides the case form loop (`actions.forms`):
submit, status, cancel, hand-over, FAQ, fallback, answering a staff question, rating; and
`build_actions`, every action by name."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from actions.base import Action, ActionContext, FormValidationAction, UtterAction, requester_of
from actions.channel import Button, OutboundFile
from actions.checklist import classify_question, ensure_draft, missing_documents
from actions.dispatcher import CollectingDispatcher
from actions.documents import (
    ActionAddFiles,
    ActionAttachDocument,
    ActionClassifyFile,
    ActionShowChecklist,
)
from actions.domain import CaseType, Domain, FaqAnswer, render_template
from actions.forms import (
    ActionCaseForm,
    ActionCaseFormReprompt,
    FormAction,
    missing_slots,
    next_step,
)
from actions.policy import case_number_in, parse_payload, payload
from actions.ports import RATING_ALIASES, RATING_LEVELS, CaseSummary, GatewayError, Handoff
from actions.tracker import (
    Awaiting,
    ConversationStateSet,
    Event,
    FallbackCounted,
    FollowupAction,
    FormReset,
    PendingCase,
    QueuedRequestDone,
    Tracker,
)
from actions.validation import CaseFormValidation
from taxrules.phones import mask_phone

# Slots kept after a case is submitted (the same company usually asks again).
KEPT_AFTER_SUBMIT: tuple[str, ...] = ("taxpayer_id",)
FALLBACKS_BEFORE_HUMAN = 2
COMPLAINT_WORKING_DAYS = 2  # default; domain.yml `settings: complaint_working_days`
WEEKDAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
# "多久能办好" while a form is open asks how long the case being filled in takes, not the
# status of cases already submitted.
DURATION_WORDS = ("多久", "几天", "多长时间", "多少天", "几个工作日", "什么时候能办", "啥时候能办")


def month_day(day: date) -> str:
    """`11月30日`."""
    return f"{day.month}月{day.day}日"


def opening_time(at: datetime) -> str:
    """`12月7日（周一）9:00` (in the time zone `at` carries: the office's)."""
    return f"{month_day(at.date())}（{WEEKDAYS[at.weekday()]}）{at.hour}:{at.minute:02d}"


def utter_handoff(dispatcher: CollectingDispatcher, handoff: Handoff) -> None:
    """The reply to a hand-over, promising only what stands behind it: with a staff chat a
    person has been asked; without one, staff answer here within office hours. Out of hours
    it says when."""
    who = "staff" if handoff.staff_chat else "no_staff"
    if handoff.open_now or handoff.next_opening is None:
        dispatcher.utter_message(response=f"utter_handed_over_{who}_open", hours=handoff.hours)
    else:
        dispatcher.utter_message(
            response=f"utter_handed_over_{who}_closed",
            hours=handoff.hours,
            next_opening=opening_time(handoff.next_opening),
        )


async def hand_over(
    ctx: ActionContext, dispatcher: CollectingDispatcher, tracker: Tracker, reason: str
) -> list[Event]:
    """Flip the conversation to staff and say honestly what happens next."""
    handoff = await ctx.gateway.hand_over(requester_of(tracker), reason)
    utter_handoff(dispatcher, handoff)
    return [ConversationStateSet("human"), Awaiting(None), FallbackCounted(reset=True)]


def human_buttons() -> list[Button]:
    """[转人工] [不用了]."""
    return [Button("转人工", payload("request_human")), Button("不用了", payload("deny"))]


def queued_payload(item: dict[str, Any]) -> str:
    """The [现在办理] button of a waiting request: its case type and the values the message
    gave for it, read by the case form as a pressed case-type button (values validated)."""
    data = {str(k): v for k, v in (item.get("slots") or {}).items() if k != "case_type"}
    return payload("choose_case_type", {"case_type": item["case_type"], **data})


def offer_queued(
    dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
) -> list[Event]:
    """When a request is done (submitted or cancelled) and the same message asked for
    another: "您还提到要办「完税证明」，现在办吗？" [现在办理] [不用了]."""
    item = next((q for q in tracker.queued if q.get("case_type") in domain.case_types), None)
    if item is None:
        return []
    case_type = domain.case_types[item["case_type"]]
    dispatcher.utter_message(
        response="utter_offer_queued",
        case_title=case_type.title.zh_hans,
        buttons=[Button("现在办理", queued_payload(item)), Button("不用了", payload("deny"))],
    )
    return [Awaiting("queued")]


class ActionSubmitCase(FormAction):
    """Submit the active case (after the [提交] confirmation): number and deadline."""

    def name(self) -> str:
        return "action_submit_case"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> list[Event]:
        if not tracker.active_form:
            dispatcher.utter_message(response="utter_no_active_case")
            return [Awaiting(None)]
        case_type = domain.case_types[tracker.active_form]
        work = tracker.copy()
        if work.unclassified and case_type.documents:
            return [classify_question(dispatcher, work.unclassified[0], work, case_type)]
        if missing_slots(work, case_type) or missing_documents(work, case_type):
            dispatcher.utter_message(response="utter_not_complete")
            return [
                Awaiting(None),
                *next_step(dispatcher, work, case_type, domain, self.validation),
            ]
        case_id, events = await ensure_draft(work, case_type, self.ctx)
        if case_id is None:  # unreachable: complete slots include the taxpayer ID
            raise GatewayError("缺少纳税人识别号，暂时无法提交。")
        values = {s: str(work.get_slot(s)) for s in case_type.slots if work.get_slot(s)}
        await self.ctx.gateway.set_slots(case_id, values)
        submitted = await self.ctx.gateway.submit(case_id)
        dispatcher.utter_message(
            response="utter_case_submitted",
            case_number=submitted.number,
            deadline=month_day(submitted.deadline),
            case_title=case_type.title.zh_hans,
        )
        if work.unclassified:  # kept files, and a case type with no checklist: on the case
            ids = [int(f["attachment_id"]) for f in work.unclassified]
            await self.ctx.gateway.add_files(
                requester_of(work), submitted.number, ids, taxpayer_id=work.get_slot("taxpayer_id")
            )
            dispatcher.utter_message(
                response="utter_files_added",
                count=len(ids),
                case_number=submitted.number,
                case_title=case_type.title.zh_hans,
            )
        return [
            *events,
            FormReset(keep=KEPT_AFTER_SUBMIT),
            *offer_queued(dispatcher, work, domain),
        ]


class ActionContinueUpload(Action):
    """[继续上传]: wait for more files."""

    def name(self) -> str:
        return "action_continue_upload"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> list[Event]:
        if not tracker.active_form:
            dispatcher.utter_message(response="utter_no_active_case")
        else:
            dispatcher.utter_message(response="utter_continue_upload")
        return [Awaiting(None)]


def case_title(domain: Domain, case_type: str) -> str:
    """The case type's Simplified title (the dispatcher writes the Traditional one)."""
    ct = domain.case_types.get(case_type)
    return ct.title.zh_hans if ct else case_type


def case_line(case: CaseSummary, domain: Domain) -> str:
    """One line of "进度": `TX-… 申报更正 · 处理中 · 预计 11月30日`, or for a result
    `TX-… 申报更正 · 已办结（12月2日）：<staff note>` (and the documents staff produced)."""
    parts = [f"{case.number} {case_title(domain, case.case_type)}"]
    status = domain.label("case_status", case.status)
    if case.is_result:
        if case.closed_on:
            status += f"（{month_day(case.closed_on)}）"
        said = case.note if case.status == "done" else case.reason
        if said:
            status += f"：{said}"
        if case.documents:
            status += f"\n  办理结果文件：{'、'.join(case.documents)}（已随办结通知发送）"
        parts.append(status)
        return " · ".join(parts)
    if case.staff_question:
        status += f"（工作人员留言：{case.staff_question}）"
    parts.append(status)
    if case.deadline and not case.staff_question:
        parts.append(f"预计 {month_day(case.deadline)}")
    return " · ".join(parts)


class ActionCheckStatus(Action):
    """The taxpayer's open cases with state and deadline (DIALOGUES §5), then the recent
    results with the staff note or the rejection reason (§12); with a case number, that
    case. Notes are converted to the taxpayer's script with the rest of the reply."""

    def name(self) -> str:
        return "action_check_status"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> list[Event]:
        taxpayer_id = tracker.get_slot("taxpayer_id")
        number = case_number_in(str(tracker.latest_message.get("text") or ""))
        if number:
            case = await self.ctx.gateway.case_status(
                requester_of(tracker), number, taxpayer_id=taxpayer_id
            )
            dispatcher.utter_message(response="utter_case_detail", case=case_line(case, domain))
            return []
        text = str(tracker.latest_message.get("text") or "")
        form = domain.case_types.get(tracker.active_form or "")
        if form is not None and any(w in text for w in DURATION_WORDS):
            dispatcher.utter_message(
                response="utter_form_duration",
                case_title=form.title.zh_hans,
                days=form.sla_working_days,
            )
            return []
        requester = requester_of(tracker)
        cases = list(await self.ctx.gateway.list_cases(requester, taxpayer_id=taxpayer_id))
        open_ = [case_line(c, domain) for c in cases if not c.is_result]
        results = [case_line(c, domain) for c in cases if c.is_result]
        if open_ and results:
            dispatcher.utter_message(
                response="utter_open_cases_and_results",
                count=len(open_),
                cases="\n".join(open_),
                results="\n".join(results),
            )
        elif open_:
            dispatcher.utter_message(
                response="utter_open_cases", count=len(open_), cases="\n".join(open_)
            )
        elif results:
            dispatcher.utter_message(response="utter_recent_results", results="\n".join(results))
        else:
            dispatcher.utter_message(response="utter_no_open_cases")
        await offer_verification_if_needed(self.ctx, dispatcher, tracker)
        return []


def contact_button() -> Button:
    """The contact button (Telegram: a reply keyboard button sharing the user's own phone
    number); elsewhere it shows how to verify."""
    return Button("📱 分享我的手机号（验证身份）", payload("verify"), request_contact=True)


async def offer_verification_if_needed(
    ctx: ActionContext, dispatcher: CollectingDispatcher, tracker: Tracker
) -> None:
    """The conversation named a taxpayer ID it is not verified for: status showed only the
    cases it opened; say so and offer the contact button and the code."""
    named = [
        str(e["value"])
        for e in tracker.latest_entities("taxpayer_id")
        if e.get("value") and not e.get("invalid")
    ]
    tax_id = named[0] if named else tracker.get_slot("taxpayer_id")
    if not tax_id or await ctx.gateway.is_verified(requester_of(tracker), str(tax_id)):
        return
    dispatcher.utter_message(
        response="utter_status_unverified",
        buttons=[contact_button()],
        taxpayer_id=ctx.normalizers.mask(str(tax_id)),
    )


def withdraw_button(case: CaseSummary, domain: Domain) -> Button:
    """[撤回 TX-… 申报更正]."""
    return Button(
        f"撤回 {case.number} {case_title(domain, case.case_type)}",
        payload("withdraw", {"case_number": case.number}),
    )


# Words that ask to withdraw a submitted case, not merely "不办了" (which is confirmed first).
WITHDRAW_WORDS = re.compile(r"撤回|撤销|撤銷|撤掉")


class ActionCancel(Action):
    """Leave the form from anywhere; the draft is dropped, nothing is submitted (§10).
    Outside a form, "撤回"/"不办了" means a submitted case: with its number, or with the
    word 撤回 when only one case can be meant, it is withdrawn at once; otherwise the
    taxpayer confirms with a button (one per open case)."""

    def name(self) -> str:
        return "action_cancel"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> list[Event]:
        if not tracker.active_form and not tracker.unclassified:
            return await self._submitted(dispatcher, tracker, domain)
        if tracker.draft_case_id:
            await self.ctx.gateway.cancel(tracker.draft_case_id, requester=requester_of(tracker))
        dispatcher.utter_message(response="utter_cancelled")
        return [
            FormReset(),
            FallbackCounted(reset=True),
            *offer_queued(dispatcher, tracker, domain),
        ]

    async def _submitted(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> list[Event]:
        text = str(tracker.latest_message.get("text") or "")
        number = case_number_in(text)
        if number:
            return await withdraw(self.ctx, dispatcher, tracker, domain, number)
        cases = [
            c
            for c in await self.ctx.gateway.list_cases(
                requester_of(tracker), taxpayer_id=tracker.get_slot("taxpayer_id")
            )
            if not c.is_result
        ]
        if not cases:
            dispatcher.utter_message(response="utter_nothing_to_cancel")
            return [Awaiting(None)]
        if len(cases) == 1 and cases[0].status != "queued":  # say why at once
            return await withdraw(self.ctx, dispatcher, tracker, domain, cases[0].number)
        if len(cases) == 1 and WITHDRAW_WORDS.search(text):  # "刚才那个申请我要撤回"
            return await withdraw(self.ctx, dispatcher, tracker, domain, cases[0].number)
        if len(cases) == 1:
            dispatcher.utter_message(
                response="utter_confirm_withdraw",
                case_number=cases[0].number,
                case_title=case_title(domain, cases[0].case_type),
                buttons=[withdraw_button(cases[0], domain), Button("不用了", payload("deny"))],
            )
        else:
            dispatcher.utter_message(
                response="utter_choose_withdraw",
                buttons=[
                    *([withdraw_button(c, domain)] for c in cases),
                    [Button("不用了", payload("deny"))],
                ],
            )
        return [Awaiting(None)]


async def withdraw(
    ctx: ActionContext,
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    domain: Domain,
    number: str,
) -> list[Event]:
    """Withdraw a submitted case at the desk, which refuses (saying why) once it is claimed
    or when it is not this chat's."""
    await ctx.gateway.withdraw(
        requester_of(tracker), number, taxpayer_id=tracker.get_slot("taxpayer_id")
    )
    dispatcher.utter_message(response="utter_withdrawn", case_number=number)
    return [Awaiting(None)]


class ActionWithdraw(Action):
    """[撤回 TX-…]: `/withdraw{"case_number": "TX-…"}` (typed or pressed, checked alike)."""

    def name(self) -> str:
        return "action_withdraw"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> list[Event]:
        number = tracker.latest_message.get("case_number")
        if not number:
            dispatcher.utter_message(response="utter_nothing_to_cancel")
            return [Awaiting(None)]
        return await withdraw(self.ctx, dispatcher, tracker, domain, str(number).upper())


class ActionHandOver(Action):
    """Hand the conversation to staff (转人工, or a complaint); from now on the bot stays
    quiet until staff or the idle timeout hand it back (§7)."""

    def name(self) -> str:
        return "action_hand_over"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> list[Event]:
        reason = str(tracker.latest_intent or "request_human")
        if reason == "complaint":
            dispatcher.utter_message(response="utter_complaint")
        elif reason != "request_human":  # e.g. [转人工] after an offer: affirm
            reason = "request_human"
        return await hand_over(self.ctx, dispatcher, tracker, reason)


class ActionDecline(Action):
    """[不用了] after an offer."""

    def name(self) -> str:
        return "action_decline"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> list[Event]:
        dispatcher.utter_message(response="utter_ok")
        events: list[Event] = [Awaiting(None), FallbackCounted(reset=True)]
        if tracker.awaiting == "queued":
            events.append(QueuedRequestDone())
        if tracker.active_form:
            events.append(FollowupAction("case_form_reprompt"))
        return events


def pick_faq(answers: list[FaqAnswer], text: str) -> FaqAnswer | None:
    """The answer whose keywords match most, else the default (no keywords) answer."""
    best: tuple[int, FaqAnswer] | None = None
    for answer in answers:
        hits = sum(1 for k in answer.keywords if k in text)
        if hits and (best is None or hits > best[0]):
            best = (hits, answer)
    if best:
        return best[1]
    return next((a for a in answers if not a.keywords), None)


class ActionFaq(Action):
    """FAQ answers from `data/faq.yml`, keyed by intent; policy answers carry source/date."""

    def name(self) -> str:
        return "action_faq"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> list[Event]:
        intent = tracker.latest_intent or ""
        text = str(tracker.latest_message.get("text") or "")
        answer = pick_faq(domain.faq.get(intent, []), text)
        if answer is None:
            dispatcher.utter_message(response="utter_faq_unknown", buttons=human_buttons())
            return [Awaiting("offer_human")]
        body = render_template(answer.text.strip(), domain.office)
        if answer.source:
            dispatcher.utter_message(
                response="utter_policy_answer",
                answer=body,
                source=answer.source,
                date=answer.date or "",
            )
        else:
            dispatcher.utter_message(text=body)
        return []


class ActionDefaultFallback(Action):
    """Not understood (§8): ask to rephrase; after two in a row the conversation goes to
    staff. Every such message goes to the admins' review inbox."""

    def name(self) -> str:
        return "action_default_fallback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> list[Event]:
        text = str(tracker.latest_message.get("text") or "")
        if text:
            await self.ctx.gateway.add_review_item(
                requester_of(tracker),
                text,
                tracker.latest_message,
                reason=str(tracker.latest_intent or "nlu_fallback"),
            )
        count = tracker.fallback_count + 1
        events: list[Event] = [FallbackCounted()]
        if count >= FALLBACKS_BEFORE_HUMAN:
            dispatcher.utter_message(response="utter_fallback_to_human")
            return [*events, *await hand_over(self.ctx, dispatcher, tracker, "fallback")]
        if tracker.active_form:
            dispatcher.utter_message(response="utter_form_not_understood")
            return [*events, FollowupAction("case_form_reprompt")]
        if tracker.latest_message.get("bare_number"):
            dispatcher.utter_message(response="utter_default_number", number=text)
        else:
            dispatcher.utter_message(response="utter_default")
        return events


def _documents_text(case_type: CaseType, domain: Domain) -> str:
    docs = []
    for doc in case_type.documents:
        accept = " 或 ".join(domain.label("accept", a) for a in doc.accept)
        need = "必需" if doc.required else "可选"
        more = "，可多份" if doc.multiple else ""
        docs.append(f"{doc.title.zh_hans}（{need}，{accept}{more}）")
    return "；".join(docs) or "不需要上传材料"


# What taxpayers call the holidays named in data/calendar/*.yml.
HOLIDAY_ALIASES: dict[str, str] = {
    "元旦": "元旦",
    "春节": "春节",
    "过年": "春节",
    "清明": "清明节",
    "五一": "劳动节",
    "劳动节": "劳动节",
    "端午": "端午节",
    "中秋": "中秋节",
    "国庆": "国庆节",
    "十一": "国庆节",
}
RELATIVE_DAYS: dict[str, int] = {"今天": 0, "明天": 1, "后天": 2}
HOLIDAY_WORDS = ("节假日", "放假", "假期", "节后", "调休", "补班")
CALENDAR_DAYS = 370


def day_label(day: date) -> str:
    """`10月2日（周五）`."""
    return f"{month_day(day)}（{WEEKDAYS[day.weekday()]}）"


def _runs(days: list[Any], name: str) -> list[tuple[date, date]]:
    """Consecutive closed days of holiday `name`, as (first, last)."""
    runs: list[tuple[date, date]] = []
    for d in days:
        if d.name != name or d.open:
            continue
        if runs and (d.day - runs[-1][1]).days == 1:
            runs[-1] = (runs[-1][0], d.day)
        else:
            runs.append((d.day, d.day))
    return runs


def holiday_lines(days: list[Any], wanted: str | None) -> list[str]:
    """ "国庆节：10月1日（周四）至10月7日（周三）办税服务厅不开放；9月20日（周日）、
    10月10日（周六）调休上班，照常办公。" for the named holiday, or the next one."""
    names = list(dict.fromkeys(d.name for d in days if d.name and not d.open))
    if wanted is not None:
        names = [n for n in names if n == wanted]
    lines = []
    for name in names[:1]:
        runs = _runs(days, name)
        spans = "、".join(
            day_label(a) if a == b else f"{day_label(a)}至{day_label(b)}" for a, b in runs
        )
        line = f"{name}：{spans}办税服务厅不开放"
        workdays = [d.day for d in days if d.open and d.name and d.name.startswith(name)]
        if workdays:
            line += f"；{'、'.join(day_label(w) for w in workdays)}调休上班，照常办公"
        lines.append(line + "。")
    return lines


class ActionOfficeHours(Action):
    """Opening hours from data (faq.yml), and from the holiday calendar when the question
    names a day (今天/明天/后天) or a holiday (国庆, 五一, 放假...): whether the 办税服务厅
    opens that day, and the dates of the holiday with its 调休 working days."""

    def name(self) -> str:
        return "action_office_hours"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> list[Event]:
        text = str(tracker.latest_message.get("text") or "")
        today = self.ctx.today()
        lines: list[str] = []
        relative = next((w for w in RELATIVE_DAYS if w in text), None)
        wanted = next((v for k, v in HOLIDAY_ALIASES.items() if k in text), None)
        if relative is not None or wanted is not None or any(w in text for w in HOLIDAY_WORDS):
            days = list(await self.ctx.gateway.office_days(today, CALENDAR_DAYS))
            if relative is not None:
                day = days[RELATIVE_DAYS[relative]]
                label = f"{relative}（{month_day(day.day)} {WEEKDAYS[day.day.weekday()]}"
                label += f"，{day.name}）" if day.name else "）"
                if day.open:
                    lines.append(f"{label}办税服务厅正常办公。")
                else:
                    following = next((d.day for d in days if d.day > day.day and d.open), None)
                    line = f"{label}办税服务厅不开放"
                    if following is not None:
                        line += f"，{day_label(following)}起照常办公"
                    lines.append(line + "。")
            else:
                lines += holiday_lines(days, wanted)
        answer = pick_faq(domain.faq.get("faq_office_hours", []), text)
        if answer is not None:
            lines.append(render_template(answer.text.strip(), domain.office))
        if not lines:
            dispatcher.utter_message(response="utter_faq_unknown", buttons=human_buttons())
            return [Awaiting("offer_human")]
        dispatcher.utter_message(text="\n".join(lines))
        return []


def checklist_answer(case_type: CaseType, domain: Domain) -> str:
    """What a case type needs, from case_types.yml: the documents (required or not, in which
    form), the values the form asks, and its time limit."""
    lines = [
        f"办理「{case_type.title.zh_hans}」需要：",
        f"· 材料：{_documents_text(case_type, domain)}",
    ]
    if case_type.slots:
        values = "、".join(domain.label("slot_long", s) for s in case_type.slots)
        lines.append(f"· 信息：{values}")
    lines.append(f"在这里提供即可，{case_type.sla_working_days} 个工作日内办结。")
    return "\n".join(lines)


def all_checklists(domain: Domain) -> str:
    """One line per case type: its documents and the values asked."""
    lines = ["各项业务需要的材料："]
    for c in domain.case_types.values():
        values = "、".join(domain.label("slot_long", s) for s in c.slots)
        line = f"· {c.title.zh_hans}：{_documents_text(c, domain)}"
        lines.append(f"{line}；另需{values}" if values else line)
    return "\n".join(lines)


class ActionFaqDocuments(Action):
    """ "要交什么材料": the checklist of the current form's case type (mid-form), of the case
    type the question names (faq.yml `faq_documents` keywords → `case_type`), else of all."""

    def name(self) -> str:
        return "action_faq_documents"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> list[Event]:
        text = str(tracker.latest_message.get("text") or "")
        answer = pick_faq(domain.faq.get("faq_documents", []), text)
        key = (
            tracker.active_form
            or tracker.latest_message.get("request_case_type")  # "申领发票，要交什么材料"
            or (answer.case_type if answer else None)
        )
        if key in domain.case_types:
            body = checklist_answer(domain.case_types[key], domain)
        else:
            body = all_checklists(domain)
        note = render_template(answer.text.strip(), domain.office) if answer else ""
        dispatcher.utter_message(text=f"{body}\n{note}".strip())
        return []


class ActionSendTemplate(Action):
    """ "承诺书模板在哪里下载": the template file of data/office.yml, sent as a document."""

    def name(self) -> str:
        return "action_send_template"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> list[Event]:
        relative = domain.office.get("template_file")
        path = domain.data_file(relative) if relative else None
        if path is None or not path.is_file():
            dispatcher.utter_message(response="utter_template_missing", buttons=human_buttons())
            return [Awaiting("offer_human")]
        name = domain.office.get("template_name") or path.name
        dispatcher.utter_message(
            response="utter_template_sent", outbound_file=OutboundFile(str(path), name)
        )
        return []


class ActionComplaint(Action):
    """A complaint is recorded as a follow-up for a supervisor (visible to staff), the reply
    says who answers and by when, and the conversation goes on with the bot."""

    def name(self) -> str:
        return "action_complaint"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> list[Event]:
        text = str(tracker.latest_message.get("original_text") or "")
        text = text or str(tracker.latest_message.get("text") or "")
        days = int(domain.settings.get("complaint_working_days") or COMPLAINT_WORKING_DAYS)
        recorded = await self.ctx.gateway.record_complaint(
            requester_of(tracker), text, working_days=days
        )
        dispatcher.utter_message(
            response="utter_complaint_recorded",
            number=recorded.follow_up_id,
            deadline=month_day(recorded.due),
            buttons=[Button("转人工", payload("request_human"))],
        )
        return [FallbackCounted(reset=True)]


class ActionTakeQueued(FormAction):
    """ "好的" to "您还提到要办「完税证明」，现在办吗？": the case form starts for the waiting
    request, with the values the first message gave (as its [现在办理] button would)."""

    def name(self) -> str:
        return "action_take_queued"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> list[Event]:
        if not tracker.queued:
            dispatcher.utter_message(response="utter_ok")
            return [Awaiting(None)]
        work = tracker.copy()
        work.latest_message = parse_payload(queued_payload(tracker.queued[0])) or {}
        form = ActionCaseForm(self.ctx, self.validation)
        return [QueuedRequestDone(), *await form.run(dispatcher, work, domain)]


class ActionAnswerCase(Action):
    """The message after a staff question goes back to that case (§6)."""

    def name(self) -> str:
        return "action_answer_case"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> list[Event]:
        number = tracker.pending_case
        if not number:
            return []
        text = str(tracker.latest_message.get("original_text") or "")
        text = text or str(tracker.latest_message.get("text") or "")
        ids = [int(f["attachment_id"]) for f in tracker.latest_message.get("files") or []]
        await self.ctx.gateway.answer_question(
            requester_of(tracker), number, text, ids, taxpayer_id=tracker.get_slot("taxpayer_id")
        )
        for reason in tracker.latest_message.get("rejected_files") or []:
            dispatcher.utter_message(text=str(reason))
        dispatcher.utter_message(response="utter_answer_forwarded", case_number=number)
        return [PendingCase(None)]


class ActionRate(Action):
    """A 好差评 button: `/rate{"case": "TX-…", "level": "satisfied"}`."""

    def name(self) -> str:
        return "action_rate"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> list[Event]:
        msg: dict[str, Any] = tracker.latest_message
        number = msg.get("case_number") or msg.get("case")
        level = RATING_ALIASES.get(str(msg.get("level")), msg.get("level"))
        if not number or level not in RATING_LEVELS:
            dispatcher.utter_message(response="utter_rating_invalid")
            return []
        await self.ctx.gateway.rate(
            requester_of(tracker),
            str(number),
            str(level),
            taxpayer_id=tracker.get_slot("taxpayer_id"),
        )
        bad = level in ("dissatisfied", "very_dissatisfied")
        dispatcher.utter_message(
            response="utter_rating_bad" if bad else "utter_rating_thanks",
            case_number=number,
            level=domain.label("rating", str(level)),
        )
        return []


class ActionVerify(Action):
    """验证 / 绑定 (or `/verify`): how to verify, with the contact button; with a code
    ("验证码 12345678", `/verify 12345678`) the code is checked at the desk."""

    def name(self) -> str:
        return "action_verify"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> list[Event]:
        code = tracker.latest_message.get("code")
        if not code:
            dispatcher.utter_message(response="utter_verify_how", buttons=[contact_button()])
            return [Awaiting(None)]
        masked = await self.ctx.gateway.verify_code(requester_of(tracker), str(code))
        dispatcher.utter_message(
            response="utter_verified", tax_ids=masked, remove_keyboard=True
        )
        return [Awaiting(None)]


class ActionVerifyContact(Action):
    """A contact shared with the contact button: verified for the taxpayer IDs whose tax
    handlers include the number, when the contact is the sender's own."""

    def name(self) -> str:
        return "action_verify_contact"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> list[Event]:
        contact = tracker.latest_message.get("contact")
        if not isinstance(contact, dict) or not contact.get("phone"):
            # typed `/share_contact...`: only the channel's contact card counts
            dispatcher.utter_message(response="utter_verify_how", buttons=[contact_button()])
            return [Awaiting(None)]
        phone = str(contact["phone"])
        tracker.latest_message["contact"] = {"phone": mask_phone(phone)}  # not kept in full
        user_id = contact.get("user_id")
        masked = await self.ctx.gateway.verify_contact(
            requester_of(tracker), phone, str(user_id) if user_id else None
        )
        dispatcher.utter_message(
            response="utter_verified", tax_ids="、".join(masked), remove_keyboard=True
        )
        return [Awaiting(None)]


def build_actions(
    ctx: ActionContext, domain: Domain, validation: FormValidationAction | None = None
) -> dict[str, Action]:
    """Every action by name: the classes here, in `forms` and in `documents`, plus one
    `UtterAction` per `utter_*` response (so rules may name responses directly). The form
    actions fill slots through `validation` (default `CaseFormValidation`), which must know
    every slot the case types ask for (`DomainError` otherwise)."""
    validation = validation or CaseFormValidation(ctx)
    validation.check(domain)
    actions: list[Action] = [
        ActionCaseForm(ctx, validation),
        ActionCaseFormReprompt(ctx, validation),
        ActionAttachDocument(ctx, validation),
        ActionClassifyFile(ctx, validation),
        ActionShowChecklist(ctx, validation),
        ActionSubmitCase(ctx, validation),
        ActionContinueUpload(ctx),
        ActionCheckStatus(ctx),
        ActionCancel(ctx),
        ActionWithdraw(ctx),
        ActionAddFiles(ctx, validation),
        ActionHandOver(ctx),
        ActionDecline(ctx),
        ActionFaq(ctx),
        ActionFaqDocuments(ctx),
        ActionOfficeHours(ctx),
        ActionSendTemplate(ctx),
        ActionComplaint(ctx),
        ActionTakeQueued(ctx, validation),
        ActionDefaultFallback(ctx),
        ActionAnswerCase(ctx),
        ActionRate(ctx),
        ActionVerify(ctx),
        ActionVerifyContact(ctx),
    ]
    out: dict[str, Action] = {a.name(): a for a in actions}
    for response in domain.responses:
        if response.startswith("utter_") and response not in out:
            out[response] = UtterAction(ctx, response)
    return out
