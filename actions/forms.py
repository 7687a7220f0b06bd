"""Case forms built from `data/case_types.yml`, and the document checklist.

One form serves every case type: the active case type names the slots to collect (asked in
the listed order, only while missing) and the documents to collect. Slot values are taken
from the NLU entities of any message (so values given early or several at once are kept),
and from the raw text for the slot just asked. Each value goes through `validate_<slot>`
(rasa-sdk `FormValidationAction` style): an invalid value is told with its reason and the
form stays where it was.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from actions.base import Action, ActionContext, requester_of
from actions.channel import Button
from actions.dispatcher import CollectingDispatcher
from actions.domain import CaseType, DocumentSpec, Domain, Title
from actions.tracker import (
    FORM_SLOTS,
    ActiveLoop,
    Awaiting,
    DraftOpened,
    Event,
    FileCollected,
    FilesUnclassified,
    FollowupAction,
    FormReset,
    SlotSet,
    Tracker,
    UnclassifiedCleared,
)
from taxrules.ids import TAXPAYER_ID_RE
from taxrules.periods import PERIOD_RE, period_start

# Slots asked together in one question when both are missing (DIALOGUES §2).
ASK_TOGETHER: tuple[tuple[str, str], ...] = (("tax_type", "tax_period"),)


# --------------------------------------------------------------------------- validation


class FormValidationAction:
    """Validation of extracted slot values, rasa-sdk style: for each slot a
    `validate_<slot>(value, dispatcher, tracker, domain) -> {slot: value_or_None}` method."""

    def __init__(self, ctx: ActionContext) -> None:
        self.ctx = ctx

    async def validate(
        self,
        candidates: Mapping[str, Any],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: Domain,
    ) -> dict[str, Any]:
        """Validate each candidate; returns {slot: normal form or None when refused}."""
        out: dict[str, Any] = {}
        for slot, value in candidates.items():
            method = getattr(self, f"validate_{slot}", None)
            if method is None:
                out[slot] = value
                continue
            out.update(await method(value, dispatcher, tracker, domain))
        return out


class CaseFormValidation(FormValidationAction):
    """`validate_<slot>` for the slots of case forms. Values are entity dicts (from NLU) or
    raw strings (from the text that answered the question)."""

    async def validate_taxpayer_id(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> dict[str, Any]:
        """Checksum-verified 18-char code; a refusal tells the reason."""
        raw = value.get("value") if isinstance(value, dict) else value
        check = self.ctx.normalizers.taxpayer_id(str(raw or ""))
        if isinstance(value, dict) and value.get("invalid") and check.valid:
            check = check.__class__(False, check.value, value.get("reason") or check.reason)
        if check.valid and check.value:
            return {"taxpayer_id": check.value}
        reason = (check.reason or "纳税人识别号不正确").rstrip("。.，, ")
        # The NLU's reasons usually say what to do already ("…请核对后重新输入").
        response = (
            "utter_invalid_taxpayer_id_reason"
            if "重新输入" in reason
            else "utter_invalid_taxpayer_id"
        )
        dispatcher.utter_message(response=response, reason=reason)
        return {"taxpayer_id": None}

    async def validate_tax_period(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> dict[str, Any]:
        """`2019-12`, `2020-Q1` or `2021`, not in the future."""
        raw = str(value.get("value") if isinstance(value, dict) else value or "").strip()
        today = self.ctx.today()
        period = raw if PERIOD_RE.match(raw) else self.ctx.normalizers.tax_period(raw, today)
        start = period_start(period) if period else None
        if period is None or start is None:
            dispatcher.utter_message(response="utter_invalid_tax_period")
            return {"tax_period": None}
        if start > today:
            dispatcher.utter_message(response="utter_future_tax_period", period=period)
            return {"tax_period": None}
        return {"tax_period": period}

    async def validate_tax_type(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> dict[str, Any]:
        """A canonical tax type key (vat, cit, iit, stamp, ...)."""
        raw = str(value.get("value") if isinstance(value, dict) else value or "").strip()
        known = domain.labels.get("tax_type", {})
        key = raw if raw in known else self.ctx.normalizers.tax_type(raw)
        if not key:
            dispatcher.utter_message(response="utter_invalid_tax_type")
            return {"tax_type": None}
        return {"tax_type": key}

    async def validate_amount(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> dict[str, Any]:
        """A positive amount in yuan, kept as a decimal string."""
        raw = str(value.get("value") if isinstance(value, dict) else value or "").strip()
        amount: Decimal | None
        try:
            amount = Decimal(raw)
        except (InvalidOperation, ValueError):
            amount = self.ctx.normalizers.amount(raw)
        if amount is None or not amount.is_finite() or amount <= 0:
            dispatcher.utter_message(response="utter_invalid_amount")
            return {"amount": None}
        return {"amount": str(amount)}


# --------------------------------------------------------------------------- helpers


def extract_candidates(
    tracker: Tracker, case_type: CaseType, *, from_text: bool, ctx: ActionContext
) -> dict[str, Any]:
    """Slot values offered by the latest message: entities for any slot of the case type
    (given early or several at once), and, when `from_text`, the raw text for the missing
    slots (the answer to the question just asked)."""
    out: dict[str, Any] = {}
    for slot in case_type.slots:
        ents = tracker.latest_entities(slot)
        if ents:
            valid = [e for e in ents if not e.get("invalid")]
            out[slot] = dict(valid[0] if valid else ents[0])
    text = str(tracker.latest_message.get("text") or "")
    if not from_text or not text:
        return out
    today = ctx.today()
    missing = [s for s in case_type.slots if s not in out and not tracker.get_slot(s)]
    for slot in missing:
        if slot == "taxpayer_id":
            match = TAXPAYER_ID_RE.search(text)
            if match:
                out[slot] = match.group(0)
        elif slot == "tax_period":
            period = ctx.normalizers.tax_period(text, today)
            if period:
                out[slot] = period
        elif slot == "tax_type":
            key = ctx.normalizers.tax_type(text)
            if key:
                out[slot] = key
        elif slot == "amount" and tracker.requested_slot == "amount":
            amount = ctx.normalizers.amount(text)
            if amount is not None:
                out[slot] = str(amount)
    return out


def slot_summary(tracker: Tracker, case_type: CaseType, domain: Domain, ctx: ActionContext) -> str:
    """ "税种 增值税，所属期 2019-12，代码 9131****12G" for the filled slots (IDs masked)."""
    parts = []
    for slot in case_type.slots:
        value = tracker.get_slot(slot)
        if not value:
            continue
        name = domain.label("slot", slot)
        if slot == "taxpayer_id":
            shown = ctx.normalizers.mask(str(value))
        elif slot == "tax_type":
            shown = domain.label("tax_type", value)
        elif slot == "amount":
            shown = f"{value} 元"
        else:
            shown = str(value)
        parts.append(f"{name} {shown}")
    return "，".join(parts)


def missing_slots(tracker: Tracker, case_type: CaseType) -> list[str]:
    """Slots of the case type still without a value, in the listed order."""
    return [s for s in case_type.slots if not tracker.get_slot(s)]


def missing_documents(tracker: Tracker, case_type: CaseType) -> list[DocumentSpec]:
    """Required checklist items without a file yet."""
    return [d for d in case_type.documents if d.required and not tracker.files.get(d.key)]


def checklist_text(tracker: Tracker, case_type: CaseType) -> str:
    """ "承诺书 ✓，补充材料 2 份" — what is collected so far."""
    parts = []
    for doc in case_type.documents:
        n = len(tracker.files.get(doc.key, []))
        if not n:
            continue
        parts.append(f"{doc.title.zh_hans} {n} 份" if doc.multiple else f"{doc.title.zh_hans} ✓")
    return "，".join(parts) or "暂无"


def still_needed_text(tracker: Tracker, case_type: CaseType, domain: Domain) -> str:
    """ "承诺书、纳税人识别号" or "无"."""
    items = [d.title.zh_hans for d in missing_documents(tracker, case_type)]
    items += [domain.label("slot_long", s) for s in missing_slots(tracker, case_type)]
    return "、".join(items) or "无"


def accept_text(doc: DocumentSpec, domain: Domain) -> str:
    """ "PDF 或照片"."""
    return " 或 ".join(domain.label("accept", a) for a in doc.accept)


def ask_slots(dispatcher: CollectingDispatcher, slots: list[str], domain: Domain) -> str:
    """Ask for the next missing slot (two together when the domain has a joint question);
    returns the slot now requested."""
    first = slots[0]
    if len(slots) > 1:
        for a, b in ASK_TOGETHER:
            if first == a and slots[1] == b and domain.has_response(f"utter_ask_{a}__{b}"):
                dispatcher.utter_message(response=f"utter_ask_{a}__{b}")
                return first
    dispatcher.utter_message(response=f"utter_ask_{first}")
    return first


def ask_document(dispatcher: CollectingDispatcher, doc: DocumentSpec, domain: Domain) -> None:
    """Ask for one checklist item."""
    specific = f"utter_ask_document_{doc.key}"
    response = specific if domain.has_response(specific) else "utter_ask_document"
    dispatcher.utter_message(
        response=response, document=doc.title.zh_hans, accept=accept_text(doc, domain)
    )


def payload(intent: str, data: Mapping[str, Any] | None = None) -> str:
    """A button payload `/intent{json}` (parsed by the policy without NLU)."""
    if not data:
        return f"/{intent}"
    return f"/{intent}{json.dumps(dict(data), ensure_ascii=False, separators=(',', ':'))}"


def confirm_buttons(case_type: CaseType) -> list[Button]:
    """[提交] [继续上传] (or [提交] [取消] when the case type needs no documents)."""
    if case_type.documents:
        return [
            Button("提交", payload("submit_case")),
            Button("继续上传", payload("continue_upload")),
        ]
    return [Button("提交", payload("submit_case")), Button("取消", payload("cancel_request"))]


def next_step(
    dispatcher: CollectingDispatcher,
    work: Tracker,
    case_type: CaseType,
    domain: Domain,
    ctx: ActionContext,
    *,
    confirm: bool = True,
) -> list[Event]:
    """Ask for what the case needs next: a slot, a document, or the confirmation."""
    slots = missing_slots(work, case_type)
    if slots:
        return [SlotSet("requested_slot", ask_slots(dispatcher, slots, domain))]
    events: list[Event] = [SlotSet("requested_slot", None)]
    docs = missing_documents(work, case_type)
    if docs:
        ask_document(dispatcher, docs[0], domain)
        return events
    if confirm:
        dispatcher.utter_message(
            response="utter_confirm_submit",
            case_title=case_type.title.zh_hans,
            summary=slot_summary(work, case_type, domain, ctx) or "—",
            checklist=checklist_text(work, case_type) if case_type.documents else "无需材料",
            buttons=confirm_buttons(case_type),
        )
        events.append(Awaiting("confirm_submit"))
    return events


def classify_files(
    files: list[dict[str, Any]], caption: str, case_type: CaseType, collected: dict[str, list[int]]
) -> tuple[list[tuple[dict[str, Any], str]], list[dict[str, Any]]]:
    """Assign files to checklist items. Returns (assignments, unsure files).

    Caption keywords decide first (album "承诺书和发票": the first file to the single item
    named, the rest to the multiple item). Without a keyword, a file goes where it can only
    go (one item; one missing required item and nowhere else; only the multiple item left);
    otherwise it is unsure and the taxpayer is asked.
    """
    docs = list(case_type.documents)
    if not docs:
        return [], list(files)
    remaining = list(files)
    assigned: list[tuple[dict[str, Any], str]] = []
    matched = [d for d in docs if caption and any(k in caption for k in d.keywords)]
    if matched:
        singles = [d for d in matched if not d.multiple]
        for d in singles:
            if remaining:
                assigned.append((remaining.pop(0), d.key))
        multis = [d for d in matched if d.multiple] or [d for d in docs if d.multiple]
        into = multis[0] if multis else matched[-1]
        assigned.extend((f, into.key) for f in remaining)
        return assigned, []
    missing_required = [d for d in docs if d.required and not collected.get(d.key)]
    multis = [d for d in docs if d.multiple]
    target: DocumentSpec | None = None
    if len(docs) == 1:
        target = docs[0]
    elif len(missing_required) == 1 and not [d for d in multis if d is not missing_required[0]]:
        target = missing_required[0]
    elif not missing_required and multis:
        target = multis[0]
    if target is None:
        return [], remaining
    return [(f, target.key) for f in remaining], []


def classify_question(
    dispatcher: CollectingDispatcher, file: dict[str, Any], work: Tracker, case_type: CaseType
) -> Event:
    """Ask "这是承诺书吗？" [是] [不是，是补充材料] about one unsure file."""
    missing = [d for d in case_type.documents if d.required and not work.files.get(d.key)]
    guess = missing[0] if missing else case_type.documents[0]
    others = [d for d in case_type.documents if d.key != guess.key]
    aid = file["attachment_id"]
    buttons = [Button("是", payload("classify_file", {"attachment_id": aid, "item": guess.key}))]
    buttons += [
        Button(
            f"不是，是{d.title.zh_hans}",
            payload("classify_file", {"attachment_id": aid, "item": d.key}),
        )
        for d in others
    ]
    name = file.get("original_name")
    dispatcher.utter_message(
        response="utter_ask_which_document",
        document=guess.title.zh_hans,
        file_name=f"（{name}）" if name else "",
        buttons=buttons,
    )
    return Awaiting("classify_file")


async def ensure_draft(
    work: Tracker, case_type: CaseType, ctx: ActionContext
) -> tuple[str | None, list[Event]]:
    """The draft case of the active form, opened at the desk on first need — once the
    taxpayer ID is known (the desk files cases under it). Files collected before are
    attached when it opens, so an open draft always holds every collected file."""
    if work.draft_case_id:
        return work.draft_case_id, []
    if not work.get_slot("taxpayer_id"):
        return None, []
    slots = {s: str(work.get_slot(s)) for s in case_type.slots if work.get_slot(s)}
    case_id = await ctx.gateway.open_draft(requester_of(work), case_type.key, slots)
    for item, ids in work.files.items():
        for attachment_id in ids:
            await ctx.gateway.attach_file(case_id, attachment_id, item)
    event = DraftOpened(case_id)
    work.apply([event])
    return case_id, [event]


async def collect(
    work: Tracker,
    case_type: CaseType,
    assignments: list[tuple[dict[str, Any], str]],
    ctx: ActionContext,
) -> list[Event]:
    """Record assigned files in the tracker and attach them at the desk (when the draft can
    be opened; otherwise `ensure_draft` attaches them later)."""
    events: list[Event] = []
    if not assignments:
        return events
    case_id, opened = await ensure_draft(work, case_type, ctx)
    events += opened
    for file, item in assignments:
        if case_id is not None:
            await ctx.gateway.attach_file(case_id, int(file["attachment_id"]), item)
        event = FileCollected(item, int(file["attachment_id"]))
        work.apply([event])
        events.append(event)
    return events


async def intake_files(
    dispatcher: CollectingDispatcher,
    work: Tracker,
    case_type: CaseType,
    files: list[dict[str, Any]],
    caption: str,
    domain: Domain,
    ctx: ActionContext,
) -> list[Event]:
    """Classify and attach files, then ONE acknowledgement for all of them (an album), and
    ask what is next (which item a file is, a missing slot, or the confirmation)."""
    events: list[Event] = []
    if not case_type.documents:
        dispatcher.utter_message(
            response="utter_no_documents_needed", case_title=case_type.title.zh_hans
        )
        return events + next_step(dispatcher, work, case_type, domain, ctx)
    assignments, unsure = classify_files(files, caption, case_type, work.files)
    events += await collect(work, case_type, assignments, ctx)
    if unsure:
        event = FilesUnclassified(tuple(unsure))
        work.apply([event])
        events.append(event)
    return events + acknowledge(dispatcher, work, case_type, len(files), domain, ctx)


def acknowledge(
    dispatcher: CollectingDispatcher,
    work: Tracker,
    case_type: CaseType,
    received: int,
    domain: Domain,
    ctx: ActionContext,
) -> list[Event]:
    """ "收到 3 个文件。承诺书 ✓，补充材料 2 份。还需要：无。" and what comes next."""
    values: dict[str, Any] = {
        "count": received,
        "checklist": checklist_text(work, case_type),
        "needed": still_needed_text(work, case_type, domain),
    }
    if work.unclassified:
        dispatcher.utter_message(response="utter_files_received_unsure", count=received)
        return [classify_question(dispatcher, work.unclassified[0], work, case_type)]
    complete = not missing_slots(work, case_type) and not missing_documents(work, case_type)
    if complete:
        dispatcher.utter_message(
            response="utter_files_received_complete", buttons=confirm_buttons(case_type), **values
        )
        return [SlotSet("requested_slot", None), Awaiting("confirm_submit")]
    dispatcher.utter_message(response="utter_files_received", **values)
    slots = missing_slots(work, case_type)
    if slots:
        return [SlotSet("requested_slot", ask_slots(dispatcher, slots, domain))]
    return [Awaiting(None)]


def file_dicts(tracker: Tracker) -> list[dict[str, Any]]:
    """The files of the latest message, as stored in `latest_message["files"]`."""
    return [dict(f) for f in tracker.latest_message.get("files") or []]


# --------------------------------------------------------------------------- actions


class ActionCaseForm(Action):
    """Open or continue the case form: activate on a request intent (or a case-type button),
    fill slots from entities and from the answer to the last question, validate, and ask
    for what is missing — slots first, then the documents, then the confirmation."""

    def __init__(self, ctx: ActionContext, *, reprompt_only: bool = False) -> None:
        super().__init__(ctx)
        self._reprompt_only = reprompt_only
        self.validator = CaseFormValidation(ctx)

    def name(self) -> str:
        return "case_form_reprompt" if self._reprompt_only else "case_form"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> list[Event]:
        work = tracker.copy()
        events: list[Event] = []

        def emit(*evs: Event) -> None:
            work.apply(list(evs))
            events.extend(evs)

        if self._reprompt_only:
            if not work.active_form:
                return []
            case_type = domain.case_types[work.active_form]
            return next_step(dispatcher, work, case_type, domain, self.ctx)

        wanted = domain.case_type_for_intent(work.latest_intent)
        chosen = work.latest_message.get("case_type")
        if chosen in domain.case_types:
            wanted = domain.case_types[str(chosen)]
        elif wanted is not None and not work.active_form:
            choices = ambiguous_case_types(work.latest_message, domain)
            if len(choices) > 1:
                emit(*await self._keep_values(dispatcher, work, domain))
                buttons = [
                    Button(c.title.zh_hans, payload("choose_case_type", {"case_type": c.key}))
                    for c in choices
                ]
                dispatcher.utter_message(response="utter_ask_case_type", buttons=buttons)
                return events
        if (
            wanted is not None
            and work.active_form
            and wanted.key != work.active_form
            and chosen not in domain.case_types
        ):
            # Another case type named mid-form: switch only when the taxpayer confirms.
            current = domain.case_types[work.active_form]
            dispatcher.utter_message(
                response="utter_ask_switch_case_type",
                current=current.title.zh_hans,
                wanted=wanted.title.zh_hans,
                buttons=[
                    Button(
                        f"改办{wanted.title.zh_hans}",
                        payload("choose_case_type", {"case_type": wanted.key}),
                    ),
                    Button(f"继续办理{current.title.zh_hans}", payload("continue_case")),
                ],
            )
            return events
        activating = wanted is not None and wanted.key != work.active_form
        if activating and wanted is not None:
            if work.active_form:
                # Another case type mid-form: the values given so far are kept, files are not.
                if work.draft_case_id:
                    await self.ctx.gateway.cancel(work.draft_case_id)
                emit(FormReset(keep=tuple(work.slots)))
            emit(ActiveLoop(wanted.key), SlotSet("case_type", wanted.key), Awaiting(None))
            case_type = wanted
        elif work.active_form:
            case_type = domain.case_types[work.active_form]
        else:
            # Values without a case type ("91650100MA78ABCD1A"): keep them, ask what to do.
            emit(*await self._keep_values(dispatcher, work, domain))
            dispatcher.utter_message(
                response="utter_ask_case_type", buttons=case_type_buttons(domain)
            )
            return events

        candidates = extract_candidates(work, case_type, from_text=True, ctx=self.ctx)
        refusals = dispatcher.child()  # told after the "好的，为您办理…" line
        validated = await self.validator.validate(candidates, refusals, work, domain)
        invalid = [s for s, v in validated.items() if v is None]
        for slot, value in validated.items():
            if value is not None:
                emit(SlotSet(slot, value))

        if activating:
            summary = slot_summary(work, case_type, domain, self.ctx)
            response = "utter_start_case_with_values" if summary else "utter_start_case"
            dispatcher.utter_message(
                response=response, case_title=case_type.title.zh_hans, summary=summary
            )
        dispatcher.messages.extend(refusals.messages)
        if activating:
            if work.unclassified and case_type.documents:
                stored = list(work.unclassified)
                caption = " ".join(str(f.get("caption") or "") for f in stored)
                emit(UnclassifiedCleared())
                events.extend(
                    await intake_files(
                        dispatcher, work, case_type, stored, caption, domain, self.ctx
                    )
                )
                return events
        if invalid:
            emit(SlotSet("requested_slot", invalid[0]))
            return events
        if not candidates and not activating:
            if work.latest_intent in ("nlu_fallback", "out_of_scope"):
                # Not an answer to the question: the fallback counts it, files it for review
                # and asks the question again.
                return [*events, FollowupAction("action_default_fallback")]
            dispatcher.utter_message(response="utter_form_not_understood")
        events.extend(next_step(dispatcher, work, case_type, domain, self.ctx))
        return events

    async def _keep_values(
        self, dispatcher: CollectingDispatcher, work: Tracker, domain: Domain
    ) -> list[Event]:
        """Validated entity values of any form slot, kept until a case type is chosen."""
        every_slot = CaseType("", Title("", ""), "", FORM_SLOTS, (), 0)
        candidates = extract_candidates(work, every_slot, from_text=False, ctx=self.ctx)
        validated = await self.validator.validate(candidates, dispatcher, work, domain)
        return [SlotSet(k, v) for k, v in validated.items() if v is not None]


AMBIGUITY_MARGIN = 0.15


def ambiguous_case_types(parse: Mapping[str, Any], domain: Domain) -> list[CaseType]:
    """Case types whose intents are all near the top of the ranking (the NLU could not tell
    "开证明" from "退税"): the taxpayer is asked to choose with buttons."""
    ranking = list(parse.get("intent_ranking") or [])
    if len(ranking) < 2:
        return []
    top = float(ranking[0].get("confidence") or 0.0)
    out = []
    for entry in ranking:
        if top - float(entry.get("confidence") or 0.0) > AMBIGUITY_MARGIN:
            break
        case_type = domain.case_type_for_intent(entry.get("name"))
        if case_type is not None and case_type not in out:
            out.append(case_type)
    return out


def case_type_buttons(domain: Domain, only_with_documents: bool = False) -> list[list[Button]]:
    """One button per case type, two per row, payload `/choose_case_type{...}`."""
    buttons = [
        Button(c.title.zh_hans, payload("choose_case_type", {"case_type": c.key}))
        for c in domain.case_types.values()
        if c.documents or not only_with_documents
    ]
    return [buttons[i : i + 2] for i in range(0, len(buttons), 2)]


class ActionAttachDocument(Action):
    """Files (one, or an album in one message): refused files are told with their reasons
    and change nothing; accepted files are classified against the checklist and
    acknowledged once."""

    def name(self) -> str:
        return "action_attach_document"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> list[Event]:
        work = tracker.copy()
        events: list[Event] = []
        rejected = list(tracker.latest_message.get("rejected_files") or [])
        for reason in rejected:
            dispatcher.utter_message(text=str(reason))
        files = file_dicts(tracker)
        caption = str(tracker.latest_message.get("text") or "")
        wanted = domain.case_type_for_intent(tracker.latest_intent)
        if wanted is not None and not work.active_form:
            # A caption like "更正增值税申报的承诺书": open that form, then take the files.
            stored = FilesUnclassified(tuple({**f, "caption": caption} for f in files))
            work.apply([stored])
            return [stored, FollowupAction("case_form")]
        if not work.active_form:
            if not files:
                return events
            stored = FilesUnclassified(tuple({**f, "caption": caption} for f in files))
            dispatcher.utter_message(
                response="utter_files_kept",
                count=len(files),
                buttons=case_type_buttons(domain, only_with_documents=True),
            )
            return [stored]
        case_type = domain.case_types[work.active_form]
        if not files:
            if rejected:
                dispatcher.utter_message(
                    response="utter_files_unchanged",
                    checklist=checklist_text(work, case_type),
                    needed=still_needed_text(work, case_type, domain),
                )
            return events
        if tracker.latest_message.get("entities"):
            # A caption may also carry slot values ("承诺书 91310115MA1K3YJ12G").
            candidates = extract_candidates(work, case_type, from_text=False, ctx=self.ctx)
            validated = await CaseFormValidation(self.ctx).validate(
                candidates, dispatcher, work, domain
            )
            for slot, value in validated.items():
                if value is not None:
                    event = SlotSet(slot, value)
                    work.apply([event])
                    events.append(event)
        events += await intake_files(dispatcher, work, case_type, files, caption, domain, self.ctx)
        return events


class ActionClassifyFile(Action):
    """Answer to "这是承诺书吗？": `/classify_file{"attachment_id": 5, "item": "..."}`, or
    affirm/deny (deny picks the only alternative)."""

    def name(self) -> str:
        return "action_classify_file"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> list[Event]:
        work = tracker.copy()
        if not work.active_form or not work.unclassified:
            dispatcher.utter_message(response="utter_nothing_to_classify")
            return [Awaiting(None)]
        case_type = domain.case_types[work.active_form]
        msg = tracker.latest_message
        file = work.unclassified[0]
        item = msg.get("item")
        if "attachment_id" in msg:
            file = next(
                (f for f in work.unclassified if f["attachment_id"] == msg["attachment_id"]), file
            )
        if item is None:
            missing = missing_documents(work, case_type)
            guess = missing[0] if missing else case_type.documents[0]
            others = [d for d in case_type.documents if d.key != guess.key]
            if tracker.latest_intent == "affirm":
                item = guess.key
            elif tracker.latest_intent == "deny" and len(others) == 1:
                item = others[0].key
            else:
                return [classify_question(dispatcher, file, work, case_type)]
        if case_type.document(str(item)) is None:
            return [classify_question(dispatcher, file, work, case_type)]
        events: list[Event] = [Awaiting(None)]
        work.apply(events)
        events += await collect(work, case_type, [(file, str(item))], self.ctx)
        rest = list(work.unclassified)
        if rest:
            assignments, _unsure = classify_files(rest, "", case_type, work.files)
            events += await collect(work, case_type, assignments, self.ctx)
        return events + acknowledge(dispatcher, work, case_type, 1, domain, self.ctx)


class ActionShowChecklist(Action):
    """What is collected and what is still needed for the active case."""

    def name(self) -> str:
        return "action_show_checklist"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> list[Event]:
        if not tracker.active_form:
            dispatcher.utter_message(response="utter_no_active_case")
            return []
        case_type = domain.case_types[tracker.active_form]
        dispatcher.utter_message(
            response="utter_checklist",
            case_title=case_type.title.zh_hans,
            summary=slot_summary(tracker, case_type, domain, self.ctx) or "—",
            checklist=checklist_text(tracker, case_type),
            needed=still_needed_text(tracker, case_type, domain),
        )
        return []
