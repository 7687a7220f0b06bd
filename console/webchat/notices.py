"""Desk notices to the web chat: the `desk.outbox.Sender` of channel "web".

A web page is not pushed to: "delivering" a notice means rendering it as Telegram would
(`bot.notices.render_notice` in the taxpayer's script, the staff's own words converted) and
returning it as `Delivered(text, meta)`; `desk.outbox.mark_delivered` stores it as the
conversation's outbound message row, with its buttons (the 好差评 levels) and documents in
`meta`, in the same transaction that marks the row sent. Open pages see the row through the
live feed (`WebOutboxWorker` pokes it after each batch); a taxpayer who is offline sees it on
return, since the page reads every message row of its conversation.

* `case_question`: the dialogue is told first (`engine.note_staff_question`), so the
  taxpayer's next message answers that case — as the Telegram sender and the shell do.
* `case_done` with `documents`: each becomes a link `/chat/files/{attachment_id}`, checked in
  the desk against the conversation when downloaded.
* `staff_copy` / `staff_edit`: what staff wrote (a Telegram topic or the console), as a
  message from staff; an edit is shown as a new message marked （修改）.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from actions.channel import Reply
from bot.notices import render_notice, traditional_staff_words
from console.webchat.channel import CHANNEL, reply_meta
from desk.outbox import Delivered, OutboxItem, OutboxWorker

log = logging.getLogger(__name__)

STAFF_FILE = "（工作人员发送了一个文件）"
EDITED = "（修改）"


def documents_meta(payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The payload's documents as the page links them: id and name only (never the
    storage key)."""
    docs = []
    for doc in payload.get("documents") or []:
        if isinstance(doc, Mapping) and doc.get("attachment_id") is not None:
            docs.append(
                {"attachment_id": int(doc["attachment_id"]), "name": str(doc.get("name") or "")}
            )
    return docs


class WebNoticeSender:
    """`desk.outbox.Sender` for rows of the web channel."""

    def __init__(self, engine: Any) -> None:
        """`engine`: the dialogue of this process (`DialogueEngine`: tracker, script
        converter, staff questions); a fake without them gets Simplified notices."""
        self.engine = engine

    async def send(self, row: OutboxItem) -> Delivered:
        """Render one notice; `Delivered` is stored as the chat's message."""
        if row.kind in ("staff_copy", "staff_edit"):
            return self._from_staff(row)
        script = await self._script(row)
        reply = render_notice(row.payload, script)
        scripts = getattr(self.engine, "scripts", None)
        if script == "hant" and scripts is not None:
            reply = traditional_staff_words(reply, row.payload, scripts)
        if row.kind == "case_question":
            await self._note_question(row)
        return Delivered(text=reply.text, meta=self._meta(reply, row))

    def _meta(self, reply: Reply, row: OutboxItem) -> dict[str, Any]:
        meta = reply_meta(reply)
        meta["kind"] = row.kind
        docs = documents_meta(row.payload)
        if docs:
            meta["documents"] = docs
        return meta

    def _from_staff(self, row: OutboxItem) -> Delivered:
        said = str(row.payload.get("text") or "")
        docs = documents_meta(row.payload)
        if not said:
            said = "" if docs else STAFF_FILE
        if row.kind == "staff_edit":
            said = f"{EDITED}{said}"
        meta: dict[str, Any] = {"from": "staff", "kind": row.kind}
        if docs:
            meta["documents"] = docs
        return Delivered(text=said, meta=meta)

    async def _script(self, row: OutboxItem) -> str:
        tracker_of = getattr(self.engine, "tracker", None)
        if tracker_of is None or row.chat_id is None:
            return "hans"
        try:
            tracker = await tracker_of(CHANNEL, row.chat_id)
        except Exception:
            log.exception("outbox %s: tracker unavailable; Simplified", row.id)
            return "hans"
        script = getattr(tracker, "script", None) if tracker is not None else None
        return "hant" if script == "hant" else "hans"

    async def _note_question(self, row: OutboxItem) -> None:
        note = getattr(self.engine, "note_staff_question", None)
        number = str(row.payload.get("case_number") or "")
        if note is None or row.chat_id is None:
            log.warning("outbox %s: staff question shown without a dialogue engine", row.id)
            return
        try:
            await note(CHANNEL, row.chat_id, number)
        except Exception:  # the question is still worth showing
            log.exception("outbox %s: could not tell the dialogue about the question", row.id)


class WebOutboxWorker(OutboxWorker):
    """The outbox loop for the web channel; after a batch is stored, `poke()` wakes the
    live feed so open chat pages show the notices at once."""

    def __init__(self, *args: Any, poke: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.poke = poke or (lambda: None)

    async def run_once(self) -> int:
        n = await super().run_once()
        if n:
            self.poke()
        return n
