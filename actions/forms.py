"""The case form loop: one form serves every case type (rasa-sdk / Rasa forms in shape).

The active case type (`data/case_types.yml`) names the slots to fill, asked in the listed
order while missing, and the documents to collect. Each turn the loop extracts candidates
from the message, validates them and asks for what is next: a slot, then a document, then
the confirmation; `action_submit_case` submits. How a slot is extracted and validated is
`extract_<slot>` / `validate_<slot>` of a `FormValidationAction` (`actions.validation`),
found by slot name. The document checklist is `actions.checklist`; the actions that take
files and continue the form after them are `actions.documents`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from actions.base import Action, ActionContext, FormValidationAction, requester_of
from actions.channel import Button
from actions.checklist import (
    ask_document,
    checklist_text,
    classify_files,
    classify_question,
    collect,
    missing_documents,
)
from actions.dispatcher import CollectingDispatcher
from actions.domain import CaseType, Domain
from actions.policy import FALLBACK_INTENTS, payload
from actions.tracker import (
    ActiveLoop,
    Awaiting,
    Event,
    FilesUnclassified,
    FollowupAction,
    FormReset,
    QueuedRequestDone,
    SlotSet,
    Tracker,
    UnclassifiedCleared,
)

AMBIGUITY_MARGIN = 0.15


# --------------------------------------------------------------------------- steps


def accepted(validated: Mapping[str, Any]) -> list[Event]:
    """A `SlotSet` for each value `validate` accepted (refused values are None)."""
    return [SlotSet(slot, value) for slot, value in validated.items() if value is not None]


def missing_slots(tracker: Tracker, case_type: CaseType) -> list[str]:
    """Slots of the case type still without a value, in the listed order."""
    return [s for s in case_type.slots if not tracker.get_slot(s)]


def slot_summary(
    tracker: Tracker, case_type: CaseType, domain: Domain, validation: FormValidationAction
) -> str:
    """ "税种 增值税，所属期 2019-12，代码 9131****12G" for the filled slots (as `show_<slot>`
    writes them: IDs masked)."""
    return "，".join(
        f"{domain.label('slot', slot)} {validation.show(slot, tracker.get_slot(slot), domain)}"
        for slot in case_type.slots
        if tracker.get_slot(slot)
    )


def still_needed_text(tracker: Tracker, case_type: CaseType, domain: Domain) -> str:
    """ "承诺书、纳税人识别号" or "无"."""
    items = [d.title.zh_hans for d in missing_documents(tracker, case_type)]
    items += [domain.label("slot_long", s) for s in missing_slots(tracker, case_type)]
    return "、".join(items) or "无"


def ask_slots(dispatcher: CollectingDispatcher, slots: list[str], domain: Domain) -> str:
    """Ask for the next missing slot, or for the next two together when the domain has a
    joint question for them (`utter_ask_tax_type__tax_period`); returns the slot now
    requested."""
    first = slots[0]
    joint = f"utter_ask_{first}__{slots[1]}" if len(slots) > 1 else None
    if joint is not None and domain.has_response(joint):
        dispatcher.utter_message(response=joint)
    else:
        dispatcher.utter_message(response=f"utter_ask_{first}")
    return first


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
    validation: FormValidationAction,
    *,
    confirm: bool = True,
) -> list[Event]:
    """Ask for what the case needs next: a slot, a document, or the confirmation. A file
    still waiting for "是哪份材料" comes first: it is kept, and the taxpayer is told so."""
    if work.unclassified and case_type.documents:
        name = work.unclassified[0].get("original_name")
        dispatcher.utter_message(
            response="utter_file_still_pending", file_name=f"（{name}）" if name else ""
        )
        return [classify_question(dispatcher, work.unclassified[0], work, case_type)]
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
            summary=slot_summary(work, case_type, domain, validation) or "—",
            checklist=checklist_text(work, case_type) if case_type.documents else "无需材料",
            buttons=confirm_buttons(case_type),
        )
        events.append(Awaiting("confirm_submit"))
    return events


async def intake_files(
    dispatcher: CollectingDispatcher,
    work: Tracker,
    case_type: CaseType,
    files: list[dict[str, Any]],
    caption: str,
    domain: Domain,
    validation: FormValidationAction,
) -> list[Event]:
    """Classify and attach files, then ONE acknowledgement for all of them (an album), and
    ask what is next (which item a file is, a missing slot, or the confirmation)."""
    events: list[Event] = []
    if not case_type.documents:
        dispatcher.utter_message(
            response="utter_no_documents_needed", case_title=case_type.title.zh_hans
        )
        return events + next_step(dispatcher, work, case_type, domain, validation)
    assignments, unsure = classify_files(files, caption, case_type, work.files)
    events += await collect(work, case_type, assignments, validation.ctx)
    if unsure:
        event = FilesUnclassified(tuple(unsure))
        work.apply([event])
        events.append(event)
    return events + acknowledge(dispatcher, work, case_type, len(files), domain, validation)


def acknowledge(
    dispatcher: CollectingDispatcher,
    work: Tracker,
    case_type: CaseType,
    received: int,
    domain: Domain,
    validation: FormValidationAction,
) -> list[Event]:
    """ "收到 3 个文件。承诺书 ✓，补充材料 2 份。还需要：无。" and what comes next; when nothing
    is missing, what was understood is echoed with the question to submit."""
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
            response="utter_files_received_complete",
            buttons=confirm_buttons(case_type),
            case_title=case_type.title.zh_hans,
            summary=slot_summary(work, case_type, domain, validation) or "—",
            **values,
        )
        return [SlotSet("requested_slot", None), Awaiting("confirm_submit")]
    dispatcher.utter_message(response="utter_files_received", **values)
    slots = missing_slots(work, case_type)
    if slots:
        return [SlotSet("requested_slot", ask_slots(dispatcher, slots, domain))]
    return [Awaiting(None)]


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
        choose_button(c)
        for c in domain.case_types.values()
        if c.documents or not only_with_documents
    ]
    return [buttons[i : i + 2] for i in range(0, len(buttons), 2)]


def choose_button(case_type: CaseType, title: str | None = None) -> Button:
    """A button that opens `case_type`'s form: `/choose_case_type{"case_type": ...}`."""
    return Button(
        title or case_type.title.zh_hans, payload("choose_case_type", {"case_type": case_type.key})
    )


# --------------------------------------------------------------------------- actions


class FormAction(Action):
    """An action that moves a case form along; slots are read and checked through
    `validation` (one `FormValidationAction`, shared by these actions)."""

    def __init__(self, ctx: ActionContext, validation: FormValidationAction) -> None:
        super().__init__(ctx)
        self.validation = validation


@dataclass
class FormTurn:
    """One run of the case form: a working copy of the tracker that sees the events so far,
    and those events."""

    work: Tracker
    events: list[Event] = field(default_factory=list)
    activated: bool = False  # the form (re)started with this message

    def emit(self, *events: Event) -> None:
        """Apply events to the working copy and keep them for the engine."""
        self.work.apply(list(events))
        self.events.extend(events)


class ActionCaseForm(FormAction):
    """Open or continue the case form: activate on a request intent (or a case-type button),
    fill slots from entities and from the answer to the last question, validate, and ask
    for what is missing — slots first, then the documents, then the confirmation."""

    def name(self) -> str:
        return "case_form"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> list[Event]:
        turn = FormTurn(tracker.copy())
        case_type = await self._case_type(dispatcher, turn, domain)
        if case_type is not None:
            await self._fill_and_ask(dispatcher, turn, case_type, domain)
        return turn.events

    async def _case_type(
        self, dispatcher: CollectingDispatcher, turn: FormTurn, domain: Domain
    ) -> CaseType | None:
        """The case type this message continues or opens; None after asking the taxpayer
        (which case type, or whether to switch)."""
        work = turn.work
        chosen = work.latest_message.get("case_type")
        by_button = chosen in domain.case_types
        if by_button:
            wanted: CaseType | None = domain.case_types[str(chosen)]
        else:
            wanted = domain.case_type_for_intent(work.latest_intent)
        current = domain.case_types[work.active_form] if work.active_form else None
        if wanted is None or wanted == current:
            if current is None:
                # Values without a case type ("91650100MA78ABCD1A"): keep them, ask what to do.
                await self._ask_case_type(dispatcher, turn, domain, case_type_buttons(domain))
            return current
        if current is None and not by_button:
            choices = ambiguous_case_types(work.latest_message, domain)
            if len(choices) > 1:
                buttons = [choose_button(c) for c in choices]
                await self._ask_case_type(dispatcher, turn, domain, buttons)
                return None
        if current is not None and not by_button:
            # Another case type named mid-form: switch only when the taxpayer confirms.
            dispatcher.utter_message(
                response="utter_ask_switch_case_type",
                current=current.title.zh_hans,
                wanted=wanted.title.zh_hans,
                buttons=[
                    choose_button(wanted, f"改办{wanted.title.zh_hans}"),
                    Button(f"继续办理{current.title.zh_hans}", payload("continue_case")),
                ],
            )
            return None
        if current is not None:
            # Another case type mid-form: the values given so far are kept, files are not.
            if work.draft_case_id:
                await self.ctx.gateway.cancel(
                    work.draft_case_id, requester=requester_of(work)
                )
            turn.emit(FormReset(keep=tuple(work.slots)))
        turn.emit(ActiveLoop(wanted.key), SlotSet("case_type", wanted.key), Awaiting(None))
        if any(q.get("case_type") == wanted.key for q in work.queued):
            turn.emit(QueuedRequestDone(wanted.key))  # the waiting request is taken up
        turn.activated = True
        return wanted

    async def _fill_and_ask(
        self, dispatcher: CollectingDispatcher, turn: FormTurn, case_type: CaseType, domain: Domain
    ) -> None:
        """Extract and validate the slots the message offers, then ask what is next."""
        work = turn.work
        refusals = dispatcher.child()  # told after the "好的，为您办理…" line
        candidates = await self.validation.extract(
            case_type.slots, refusals, work, domain, from_text=True
        )
        validated = await self.validation.validate(candidates, refusals, work, domain)
        # A value kept from before and refused now (a VAT return for a year) is cleared.
        cleared = [
            SlotSet(slot, None)
            for slot, value in validated.items()
            if value is None and slot not in candidates and work.get_slot(slot)
        ]
        turn.emit(*accepted(validated), *cleared)
        invalid = [slot for slot, value in validated.items() if value is None]
        if turn.activated:
            summary = slot_summary(work, case_type, domain, self.validation)
            dispatcher.utter_message(
                response="utter_start_case_with_values" if summary else "utter_start_case",
                case_title=case_type.title.zh_hans,
                summary=summary,
            )
            scope = f"utter_case_scope_{case_type.key}"  # what the case type covers, if said
            if domain.has_response(scope):
                dispatcher.utter_message(response=scope)
            later = [
                domain.case_types[q["case_type"]].title.zh_hans
                for q in work.latest_message.get("queued_requests") or []
                if q.get("case_type") in domain.case_types
            ]
            if later:
                dispatcher.utter_message(
                    response="utter_queued_next", case_titles="」「".join(later)
                )
        dispatcher.messages.extend(refusals.messages)
        understood = bool(candidates) or turn.activated
        if turn.activated and work.unclassified and case_type.documents:
            # Files sent before the case type was chosen: classified now.
            stored = list(work.unclassified)
            caption = " ".join(str(f.get("caption") or "") for f in stored)
            turn.emit(UnclassifiedCleared())
            turn.events += await intake_files(
                dispatcher, work, case_type, stored, caption, domain, self.validation
            )
        elif invalid:
            turn.emit(SlotSet("requested_slot", invalid[0]))
        elif not understood and work.latest_intent in FALLBACK_INTENTS:
            # Not an answer to the question: the fallback counts it, files it for review and
            # asks the question again.
            turn.emit(FollowupAction("action_default_fallback"))
        else:
            if not understood:
                dispatcher.utter_message(response="utter_form_not_understood")
            turn.events += next_step(dispatcher, work, case_type, domain, self.validation)

    async def _ask_case_type(
        self,
        dispatcher: CollectingDispatcher,
        turn: FormTurn,
        domain: Domain,
        buttons: list[Button] | list[list[Button]],
    ) -> None:
        """Keep the valid values the message gave for any form slot (until a case type is
        chosen), and ask which case type it is."""
        candidates = await self.validation.extract(
            domain.form_slots, dispatcher, turn.work, domain, from_text=False
        )
        validated = await self.validation.validate(candidates, dispatcher, turn.work, domain)
        turn.emit(*accepted(validated))
        dispatcher.utter_message(response="utter_ask_case_type", buttons=buttons)


class ActionCaseFormReprompt(FormAction):
    """Ask the active form's question again (after an interruption, or [继续办理])."""

    def name(self) -> str:
        return "case_form_reprompt"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> list[Event]:
        if not tracker.active_form:
            return []
        case_type = domain.case_types[tracker.active_form]
        return next_step(dispatcher, tracker, case_type, domain, self.validation)
