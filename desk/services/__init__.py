"""The desk's services: the only way in for the bot, the staff tools, the console and the CLI.

`Desk(session, catalog, calendar)` wraps one `AsyncSession` (one per update / request / command)
and commits it: every public method is one transaction. Case transitions go through the state
machine (`desk.states`), write a `case_event` (who, what, when, from and to) and, in the same
transaction, the outbox rows for what the taxpayer must be told (`desk.notices`). After an
error the session is rolled back and can be used again.

`Desk` is composed of one class per job, all on `core.DeskCore` (the session, `_transition`,
`_enqueue`, case numbering and the common helpers):
- `conversations.Conversations` — chats, their state, what the taxpayer wrote, taxpayer IDs;
- `access.Access` — who may act for a taxpayer: the one entitlement rule, verification;
- `taxpayer_cases.TaxpayerCases` — the taxpayer's side of cases;
- `staff.StaffWork` — staff members and their steps on cases;
- `queries.Queries` — the staff queue and the case view;
- `topics.StaffTopics` — the staff supergroup's topics and the relay to and from them;
- `inbox.Inbox` (on `StaffTopics`) — the console's conversations: list, chat, take over,
  reply, hand back;
- `accounts.Accounts` — console logins (argon2 hashes) and the admin's staff accounts;
- `review.Review` — the studio's review inbox (read, close with who/how, flag a message);
- `webchat.WebChat` — the web chat's history after an id and its download check.
The per-update rows (messages, trackers) do not come through here: `desk.batch.WriteBatcher`.
"""

from __future__ import annotations

from desk.services.access import Access, ImportResult
from desk.services.accounts import Accounts, StaffIdentity, WeakPassword
from desk.services.conversations import Conversations
from desk.services.core import Actor, ConversationState, DeskCore, WorkingDays
from desk.services.inbox import ChatItem, ConversationRow, ConversationView, Inbox
from desk.services.permissions import CASE_ACTIONS, PERMISSIONS, SUPERVISORS, Permission
from desk.services.queries import CaseDetail, Queries, QueuePage, QueueRow, StaffChoice
from desk.services.review import OUT_OF_SCOPE, Review
from desk.services.staff import ROLES, StaffWork
from desk.services.taxpayer_cases import ALREADY_RATED, CaseSummary, TaxpayerCases
from desk.services.topics import STAFF_CHANNEL, RelayedToTaxpayer, StaffTopics, TopicCard
from desk.services.webchat import ChatDocument, ChatMessage, WebChat
from desk.states import CLOSED_STATUSES


class Desk(Conversations, TaxpayerCases, Accounts, StaffWork, Queries, Inbox, Review, WebChat):
    """Services over one session. See the package docstring."""


__all__ = [
    "ALREADY_RATED",
    "CASE_ACTIONS",
    "CLOSED_STATUSES",
    "OUT_OF_SCOPE",
    "PERMISSIONS",
    "ROLES",
    "STAFF_CHANNEL",
    "SUPERVISORS",
    "Access",
    "Accounts",
    "Actor",
    "CaseDetail",
    "CaseSummary",
    "ChatDocument",
    "ChatItem",
    "ChatMessage",
    "ConversationRow",
    "ConversationState",
    "ConversationView",
    "Desk",
    "DeskCore",
    "ImportResult",
    "Inbox",
    "Permission",
    "QueuePage",
    "QueueRow",
    "RelayedToTaxpayer",
    "Review",
    "StaffChoice",
    "StaffIdentity",
    "StaffTopics",
    "TopicCard",
    "WeakPassword",
    "WebChat",
    "WorkingDays",
]
