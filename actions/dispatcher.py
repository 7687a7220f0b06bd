"""CollectingDispatcher: actions utter messages, the dispatcher collects `Reply` objects.

As in rasa-sdk, actions never send anything themselves; the channel sends what the engine
returns. Replies are rendered in the script the taxpayer wrote (`script`), converting the
Simplified text with the engine's OpenCC converter when needed, with the case type and
document titles in the data's own Traditional wording.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from actions.channel import Button, OutboundFile, Reply
from actions.domain import Domain, render_template

ButtonsArg = Sequence[Button | Mapping[str, str]] | Sequence[Sequence[Button | Mapping[str, str]]]


def _identity(text: str) -> str:
    return text


class CollectingDispatcher:
    """Collects the replies of one turn."""

    def __init__(
        self,
        domain: Domain,
        *,
        rng: random.Random | None = None,
        script: str = "hans",
        to_traditional: Callable[[str], str] | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> None:
        self.domain = domain
        self.rng = rng or random.Random()
        self.script = script
        self._convert: Callable[[str], str] = _identity
        if script == "hant" and to_traditional is not None:
            fix_titles = domain.traditional_titles(to_traditional)
            self._convert = lambda text: fix_titles(to_traditional(text))
        self.values: dict[str, Any] = dict(values or {})
        self.messages: list[Reply] = []
        self.action = ""  # the action running now: the kind of the free texts it utters

    def child(self) -> CollectingDispatcher:
        """A dispatcher with the same settings and its own messages (to put some replies
        after others that are decided later)."""
        child = CollectingDispatcher(self.domain, rng=self.rng, script=self.script)
        child._convert = self._convert
        child.values = dict(self.values)
        child.action = self.action
        return child

    def utter_message(
        self,
        text: str | None = None,
        *,
        response: str | None = None,
        buttons: ButtonsArg | None = None,
        remove_keyboard: bool = False,
        outbound_file: OutboundFile | None = None,
        **kwargs: Any,
    ) -> None:
        """Utter `text` or the named `response` (a random variant), filled with `kwargs` and
        the tracker's slot values. `buttons` is one row or a list of rows of `Button` (or
        `{"title", "payload"}` dicts); they are added after any buttons of the response.
        `remove_keyboard`: the channel takes away a reply keyboard shown before.
        `outbound_file`: a file sent with the text as its caption (`Reply.document`)."""
        values = {**self.values, **kwargs}
        rows: list[list[Button]] = []
        converted = False
        if response is not None:
            body, rows, converted = self.domain.render(response, values, self.rng, self.script)
            if text:
                body = f"{render_template(text, values)}\n{body}"
        elif text is not None:
            body = render_template(text, values)
        else:
            raise ValueError("utter_message needs text or response")
        rows.extend(_button_rows(buttons))
        if not converted:
            body = self._convert(body)
        final_rows = tuple(
            tuple(Button(self._convert(b.title), b.payload, b.request_contact) for b in row)
            for row in rows
            if row
        )
        kind = response or self.action or "text"
        self.messages.append(
            Reply(
                text=body,
                buttons=final_rows,
                document=outbound_file,
                remove_keyboard=remove_keyboard,
                kinds=(kind,),
            )
        )


def _as_button(b: Button | Mapping[str, str]) -> Button:
    if isinstance(b, Button):
        return b
    return Button(str(b["title"]), str(b["payload"]))


def _button_rows(buttons: ButtonsArg | None) -> list[list[Button]]:
    if not buttons:
        return []
    items: list[Any] = list(buttons)
    if isinstance(items[0], Button | Mapping):
        return [[_as_button(b) for b in items]]
    return [[_as_button(b) for b in row] for row in items]


def merge_replies(replies: Iterable[Reply]) -> list[Reply]:
    """Join consecutive replies into one message while the earlier one has no buttons, so a
    turn reads as one message ("好的…。请上传承诺书。") rather than several. A reply that
    carries a file stays on its own (its text is the file's caption)."""
    out: list[Reply] = []
    for reply in replies:
        if out and not out[-1].buttons and not out[-1].document and not reply.document:
            prev = out.pop()
            out.append(
                Reply(
                    text=f"{prev.text}\n{reply.text}",
                    buttons=reply.buttons,
                    remove_keyboard=prev.remove_keyboard or reply.remove_keyboard,
                    kinds=prev.kinds + reply.kinds,
                )
            )
        else:
            out.append(reply)
    return out
