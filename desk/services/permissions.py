"""Who may take which staff action: ONE rule per action, for the CLI, the staff topics and the
console alike (they all go through `desk.services.staff.StaffWork`, which asks `refusal`).

Rules (roles come from the staff table: staff < supervisor, admin):
- `any_staff` — every active staff member;
- `owner` — the case's assignee; supervisors and admins may act on any case. A plain staff
  member must claim an unassigned case first;
- `supervisor` — supervisors and admins only;
- `admin` — admins only (the staff accounts).

The conversation actions (take over from the bot, reply, hand back) are `any_staff`, as in the
staff topics: whoever writes to the taxpayer answers for the conversation.

The state machine (`desk.states`) is checked separately: an action may be permitted and still
not possible in the case's state (`IllegalTransition`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from desk.states import allowed_from

SUPERVISORS = frozenset({"supervisor", "admin"})

Rule = Literal["any_staff", "owner", "supervisor", "admin"]


@dataclass(frozen=True, slots=True)
class Permission:
    """The rule of one staff action, the state-machine step it takes (None: no case step)
    and its Chinese label for messages."""

    rule: Rule
    step: str | None
    label: str


#: action (the `StaffWork` method name) -> its one rule. The order is the order of buttons.
PERMISSIONS: dict[str, Permission] = {
    "claim": Permission("any_staff", "claim", "认领"),
    "assign": Permission("supervisor", "assign", "分派"),
    "ask_taxpayer": Permission("owner", "ask", "向纳税人提问"),
    "complete": Permission("owner", "complete", "办结"),
    "reject": Permission("owner", "reject", "作不予受理处理"),
    "release": Permission("owner", "release", "退回队列"),
    "cancel": Permission("owner", "cancel", "取消"),
    "reopen": Permission("supervisor", "reopen", "重新打开"),
    "note": Permission("any_staff", "note", "添加内部备注"),
    "close_follow_up": Permission("supervisor", None, "关闭回访"),
    "review": Permission("supervisor", None, "处理待审消息"),
    "flag_for_review": Permission("any_staff", None, "标记待审消息"),
    # a conversation (the console and the staff topics)
    "take_over": Permission("any_staff", None, "接管会话"),
    "reply": Permission("any_staff", None, "回复纳税人"),
    "hand_back": Permission("any_staff", None, "交还智能助手"),
    # the staff accounts (the console's account page, the CLI goes around: it is the server)
    "manage_accounts": Permission("admin", None, "管理工作人员账号"),
}

#: The actions on a case (what `allowed_actions` chooses from).
CASE_ACTIONS: tuple[str, ...] = tuple(a for a, p in PERMISSIONS.items() if p.step is not None)


def refusal(
    action: str,
    *,
    role: str,
    staff_id: int,
    number: str | None = None,
    assignee_id: int | None = None,
    assignee_name: str | None = None,
) -> str | None:
    """None if a staff member with `role` (and id `staff_id`) may take `action` on a case
    assigned to `assignee_id`; else the Chinese sentence saying why and what to do."""
    perm = PERMISSIONS[action]
    if perm.rule == "admin":
        return None if role == "admin" else f"只有管理员可以{perm.label}。"
    if perm.rule == "any_staff" or role in SUPERVISORS:
        return None
    if perm.rule == "supervisor":
        return f"只有主管或管理员可以{perm.label}。请联系主管处理。"
    if assignee_id == staff_id:
        return None
    case = f"案件 {number} " if number else "该案件"
    if assignee_id is None:
        return f"{case}还没有人认领：请先认领，再{perm.label}；或请主管处理。"
    who = assignee_name or "其他同事"
    return f"{case}由 {who} 承办，只有承办人或主管可以{perm.label}。如需接手，请主管分派给您。"


#: The case actions offered as buttons in a staff topic, in button order (the others are
#: for supervisors, the CLI and the console).
TOPIC_ACTIONS: tuple[str, ...] = ("claim", "release", "ask_taxpayer", "complete", "reject")


def state_actions(status: str, *, assigned: bool) -> list[str]:
    """The topic actions that make sense for a case in `status`, for whoever may act on it
    (nobody in particular: the buttons under an announcement are shared by the group). An
    unassigned case offers only a claim (the other steps are the assignee's); an assigned
    one what its assignee can do in this state. Each press still asks `refusal`."""
    out = []
    for action in TOPIC_ACTIONS:
        perm = PERMISSIONS[action]
        assert perm.step is not None
        if not allowed_from(perm.step, status):
            continue
        if assigned == (action == "claim"):
            continue  # claim only unassigned; the rest only once someone has the case
        out.append(action)
    return out
