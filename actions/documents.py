"""The actions about a case's documents: take files (one, or an album in one message),
answer "which checklist item is this file?", and show the checklist. They continue the case
form (`actions.forms`) after the files; the checklist itself is `actions.checklist`."""

from __future__ import annotations

from actions.base import ActionContext, requester_of
from actions.channel import Button
from actions.checklist import (
    checklist_text,
    classify_files,
    classify_question,
    collect,
    file_dicts,
    missing_documents,
)
from actions.dispatcher import CollectingDispatcher
from actions.domain import Domain
from actions.forms import (
    FormAction,
    accepted,
    acknowledge,
    case_type_buttons,
    intake_files,
    slot_summary,
    still_needed_text,
)
from actions.policy import case_number_in, document_answer, payload
from actions.ports import TAKES_FILES, CaseSummary
from actions.tracker import (
    Awaiting,
    Event,
    FilesUnclassified,
    FollowupAction,
    Tracker,
    UnclassifiedCleared,
)


class ActionAttachDocument(FormAction):
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
            taking = await cases_taking_files(self.ctx, tracker)
            number = case_number_in(caption)
            chosen = [c for c in taking if c.number == number] or taking
            if len(chosen) == 1:  # a missing page of the submitted case
                work.apply([stored])
                return [stored, *await add_files(self.ctx, dispatcher, work, domain, chosen[0])]
            if chosen:
                dispatcher.utter_message(
                    response="utter_ask_which_case_for_files",
                    count=len(files),
                    buttons=[[add_files_button(c, domain)] for c in chosen],
                )
                return [stored]
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
            candidates = await self.validation.extract(
                case_type.slots, dispatcher, work, domain, from_text=False
            )
            validated = await self.validation.validate(candidates, dispatcher, work, domain)
            filled = accepted(validated)
            work.apply(filled)
            events += filled
        events += await intake_files(
            dispatcher, work, case_type, files, caption, domain, self.validation
        )
        return events


async def cases_taking_files(ctx: ActionContext, tracker: Tracker) -> list[CaseSummary]:
    """This chat's submitted cases that can still take a file (`TAKES_FILES`)."""
    cases = await ctx.gateway.list_cases(
        requester_of(tracker), taxpayer_id=tracker.get_slot("taxpayer_id")
    )
    return [c for c in cases if c.status in TAKES_FILES]


def add_files_button(case: CaseSummary, domain: Domain) -> Button:
    """[补充到 TX-… 申报更正]."""
    ct = domain.case_types.get(case.case_type)
    title = ct.title.zh_hans if ct else case.case_type
    return Button(
        f"补充到 {case.number} {title}", payload("add_files", {"case_number": case.number})
    )


async def add_files(
    ctx: ActionContext,
    dispatcher: CollectingDispatcher,
    work: Tracker,
    domain: Domain,
    case: CaseSummary,
) -> list[Event]:
    """The kept files (`Tracker.unclassified`) go to the submitted `case` at the desk."""
    ids = [int(f["attachment_id"]) for f in work.unclassified]
    await ctx.gateway.add_files(
        requester_of(work), case.number, ids, taxpayer_id=work.get_slot("taxpayer_id")
    )
    ct = domain.case_types.get(case.case_type)
    dispatcher.utter_message(
        response="utter_files_added",
        count=len(ids),
        case_number=case.number,
        case_title=ct.title.zh_hans if ct else case.case_type,
    )
    return [UnclassifiedCleared(), Awaiting(None)]


class ActionAddFiles(FormAction):
    """[补充到 TX-…]: `/add_files{"case_number": "TX-…"}` puts the kept files on that
    submitted case (the desk checks the case is this chat's and can take files)."""

    def name(self) -> str:
        return "action_add_files"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> list[Event]:
        number = str(tracker.latest_message.get("case_number") or "").upper()
        if not tracker.unclassified or not number:
            dispatcher.utter_message(response="utter_no_files_to_add")
            return [Awaiting(None)]
        case = await self.ctx.gateway.case_status(
            requester_of(tracker), number, taxpayer_id=tracker.get_slot("taxpayer_id")
        )
        return await add_files(self.ctx, dispatcher, tracker.copy(), domain, case)


class ActionClassifyFile(FormAction):
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
            worded = document_answer(str(msg.get("text") or ""), case_type, guess)
            if worded is not None:  # "这是承诺书", "是补充材料", "不是承诺书"
                item = worded.key
            elif tracker.latest_intent == "affirm":
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
        return events + acknowledge(dispatcher, work, case_type, 1, domain, self.validation)


class ActionShowChecklist(FormAction):
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
            summary=slot_summary(tracker, case_type, domain, self.validation) or "—",
            checklist=checklist_text(tracker, case_type),
            needed=still_needed_text(tracker, case_type, domain),
        )
        return []
