"""The document checklist of a case: what is collected and still missing, the question for
the next document, which checklist item a file is (and the question when that is unsure),
and attaching files to the draft case at the desk.

The checklist items are data (`documents:` of a case type in `data/case_types.yml`); the
collected files live in the tracker (`Tracker.files`: item → attachment ids).
"""

from __future__ import annotations

from typing import Any

from actions.base import ActionContext, requester_of
from actions.channel import Button
from actions.dispatcher import CollectingDispatcher
from actions.domain import CaseType, DocumentSpec, Domain
from actions.policy import payload
from actions.tracker import Awaiting, DraftOpened, Event, FileCollected, Tracker


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


def accept_text(doc: DocumentSpec, domain: Domain) -> str:
    """ "PDF 或照片"."""
    return " 或 ".join(domain.label("accept", a) for a in doc.accept)


def ask_document(dispatcher: CollectingDispatcher, doc: DocumentSpec, domain: Domain) -> None:
    """Ask for one checklist item."""
    specific = f"utter_ask_document_{doc.key}"
    response = specific if domain.has_response(specific) else "utter_ask_document"
    dispatcher.utter_message(
        response=response, document=doc.title.zh_hans, accept=accept_text(doc, domain)
    )


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
    missing = missing_documents(work, case_type)
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
            await ctx.gateway.attach_file(
                case_id, attachment_id, item, requester=requester_of(work)
            )
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
            await ctx.gateway.attach_file(
                case_id, int(file["attachment_id"]), item, requester=requester_of(work)
            )
        event = FileCollected(item, int(file["attachment_id"]))
        work.apply([event])
        events.append(event)
    return events


def file_dicts(tracker: Tracker) -> list[dict[str, Any]]:
    """The files of the latest message, as stored in `latest_message["files"]`."""
    return [dict(f) for f in tracker.latest_message.get("files") or []]
