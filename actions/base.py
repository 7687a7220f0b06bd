"""The action interface (rasa-sdk shape) and what actions may use besides the tracker."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from actions.dispatcher import CollectingDispatcher
from actions.domain import Domain
from actions.ports import CaseGateway, Normalizers, Requester
from actions.tracker import Event, Tracker


@dataclass(frozen=True)
class ActionContext:
    """Services the actions call: the case backend, the slot normalisers and the clock."""

    gateway: CaseGateway
    normalizers: Normalizers
    today: Callable[[], date]


def requester_of(tracker: Tracker) -> Requester:
    """The requester a tracker belongs to."""
    return Requester(channel=tracker.channel, chat_id=tracker.chat_id, user_id=tracker.user_id)


class Action:
    """An action: `name()` and `run(dispatcher, tracker, domain) -> list[Event]`.

    Actions read the tracker, utter through the dispatcher, call services, and return events;
    they never change the tracker themselves.
    """

    def __init__(self, ctx: ActionContext) -> None:
        self.ctx = ctx

    def name(self) -> str:
        """The action's name, as used in rules and `FollowupAction`."""
        raise NotImplementedError

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> list[Event]:
        """Do the action."""
        raise NotImplementedError


class UtterAction(Action):
    """An action that only utters a response of the domain (`utter_*` in rules)."""

    def __init__(self, ctx: ActionContext, response: str) -> None:
        super().__init__(ctx)
        self._response = response

    def name(self) -> str:
        return self._response

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain
    ) -> list[Event]:
        dispatcher.utter_message(response=self._response)
        return []
