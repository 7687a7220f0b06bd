"""The case state machine.

```
               submit            claim / assign            ask
  collecting ─────────► queued ─────────────────► in_progress ─────► waiting_taxpayer
      │                  ▲  │                      │  ▲   │  ▲              │
      │                  │  │ release              │  │   │  └──── answer ───┘
      │                  │  └◄─────────────────────┘  │   │
      │                  │                            │   ├── complete ──► done
      │                  └──────── reopen ◄───────────┼───┤                 │
      │                                               │   └── reject ────► rejected
      └── cancel (from any open state) ──► cancelled  └── (assign: re-assign, same state)
```

* `collecting` — a draft: the bot (or a clerk on the phone) is filling slots and documents.
* `queued` — submitted; the SLA clock runs (deadline = submitted + N working days).
* `in_progress` — a staff member owns it (`assignee`).
* `waiting_taxpayer` — staff asked the taxpayer something; the taxpayer's answer brings it back
  to `in_progress`. The SLA deadline is not moved (the office promised a date).
* `done`, `rejected`, `cancelled` — closed. `reopen` (supervisor) puts a done or rejected case
  back into `queued`, unassigned, with a fresh deadline (e.g. after a bad rating).

`cancel` is allowed from every open state (a taxpayer may withdraw at any time; staff may cancel
on the taxpayer's behalf). `reject` is allowed once the case is submitted. `assign` from
`in_progress`/`waiting_taxpayer` re-assigns without a state change.

`check(action, status)` returns the target status or raises `IllegalTransition` (a typed error
with a Chinese `user_message`). The services are the only callers; every transition writes a
`case_event` and, in the same transaction, the outbox rows for what the taxpayer must be told.
"""

from __future__ import annotations

from enum import StrEnum

from desk.errors import IllegalTransition


class CaseStatus(StrEnum):
    """A case's state."""

    COLLECTING = "collecting"
    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    WAITING_TAXPAYER = "waiting_taxpayer"
    DONE = "done"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


OPEN_STATUSES: frozenset[str] = frozenset(
    {CaseStatus.COLLECTING, CaseStatus.QUEUED, CaseStatus.IN_PROGRESS, CaseStatus.WAITING_TAXPAYER}
)
#: Statuses in which the SLA clock runs (submitted and not closed).
ACTIVE_STATUSES: frozenset[str] = frozenset(
    {CaseStatus.QUEUED, CaseStatus.IN_PROGRESS, CaseStatus.WAITING_TAXPAYER}
)
CLOSED_STATUSES: frozenset[str] = frozenset(
    {CaseStatus.DONE, CaseStatus.REJECTED, CaseStatus.CANCELLED}
)
#: Closed statuses with a result the taxpayer is shown (a note, a reason, a document).
RESULT_STATUSES: frozenset[str] = frozenset({CaseStatus.DONE, CaseStatus.REJECTED})

S = CaseStatus
#: action -> (allowed source statuses, target status; None = unchanged)
TRANSITIONS: dict[str, tuple[frozenset[str], str | None]] = {
    "submit": (frozenset({S.COLLECTING}), S.QUEUED),
    "claim": (frozenset({S.QUEUED}), S.IN_PROGRESS),
    "assign": (frozenset({S.QUEUED, S.IN_PROGRESS, S.WAITING_TAXPAYER}), None),
    "release": (frozenset({S.IN_PROGRESS}), S.QUEUED),
    "ask": (frozenset({S.IN_PROGRESS, S.WAITING_TAXPAYER}), S.WAITING_TAXPAYER),
    "answer": (frozenset({S.WAITING_TAXPAYER}), S.IN_PROGRESS),
    "complete": (frozenset({S.IN_PROGRESS}), S.DONE),
    "reject": (frozenset({S.QUEUED, S.IN_PROGRESS, S.WAITING_TAXPAYER}), S.REJECTED),
    "cancel": (OPEN_STATUSES, S.CANCELLED),
    # the taxpayer takes a submitted case back while no one has claimed it
    "withdraw": (frozenset({S.QUEUED}), S.CANCELLED),
    # the taxpayer adds a missing page to a submitted case: an event, no state change
    "add_attachment": (frozenset({S.QUEUED, S.IN_PROGRESS, S.WAITING_TAXPAYER}), None),
    "reopen": (frozenset({S.DONE, S.REJECTED}), S.QUEUED),
    # an internal staff note: an event in any state, no state change
    "note": (frozenset(S), None),
}

STATUS_LABELS: dict[str, str] = {
    "collecting": "材料收集中",
    "queued": "排队中",
    "in_progress": "办理中",
    "waiting_taxpayer": "等待您补充信息",
    "done": "已办结",
    "rejected": "不予受理",
    "cancelled": "已取消",
}
STATUS_LABELS_HANT: dict[str, str] = {
    "collecting": "材料收集中",
    "queued": "排隊中",
    "in_progress": "辦理中",
    "waiting_taxpayer": "等待您補充資訊",
    "done": "已辦結",
    "rejected": "不予受理",
    "cancelled": "已取消",
}
ACTION_LABELS: dict[str, str] = {
    "submit": "提交",
    "claim": "认领",
    "assign": "分派",
    "release": "退回队列",
    "ask": "向纳税人提问",
    "answer": "补充信息",
    "complete": "办结",
    "reject": "不予受理",
    "cancel": "取消",
    "withdraw": "撤回",
    "add_attachment": "补充材料",
    "reopen": "重新打开",
    "note": "内部备注",
}


def allowed_from(action: str, status: str) -> bool:
    """True if the state machine allows `action` from `status`."""
    sources = TRANSITIONS.get(action)
    return sources is not None and status in sources[0]


def check(action: str, status: str, number: str = "?") -> str:
    """The status after `action` from `status`; raises `IllegalTransition` if not allowed."""
    try:
        sources, target = TRANSITIONS[action]
    except KeyError:
        raise IllegalTransition(number, status, action) from None
    if status not in sources:
        raise IllegalTransition(number, status, action)
    return status if target is None else str(target)
