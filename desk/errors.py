"""Typed errors of the case backend.

Every error carries `user_message`: Simplified Chinese text fit to show a taxpayer or a staff
member as it is (the error router of a channel shows it; the CLI prints it). `code` is a stable
machine key (used in CLI JSON output and tests). The English `str()` is for logs and never
contains a full taxpayer ID.
"""

from __future__ import annotations

from collections.abc import Sequence

from taxrules.errors import InvalidTaxpayerIdError, UserFacingError


class DeskError(UserFacingError):
    """Base class: a domain error with a user-facing Chinese message."""

    code: str = "desk_error"

    def __init__(self, message: str, user_message: str) -> None:
        super().__init__(message, user_message)


class CaseTypesError(DeskError):
    """`case_types.yml` is invalid; names the file and the field."""

    code = "case_types_invalid"

    def __init__(self, path: str, field: str, problem: str) -> None:
        super().__init__(
            f"{path}: {field}: {problem}",
            f"案件类型配置有误：文件 {path}，字段 {field}：{problem}",
        )
        self.path = path
        self.field = field
        self.problem = problem


class UnknownCaseType(DeskError):
    """The case type key is not in the catalogue."""

    code = "unknown_case_type"

    def __init__(self, key: str) -> None:
        super().__init__(f"unknown case type {key!r}", f"没有这种业务类型：{key}。")
        self.key = key


class CaseNotFound(DeskError):
    """No case with that number (or id)."""

    code = "case_not_found"

    def __init__(self, number: str) -> None:
        super().__init__(f"case {number} not found", f"找不到案件 {number}，请核对编号。")
        self.number = number


class StaffNotFound(DeskError):
    """No active staff member with that name or id."""

    code = "staff_not_found"

    def __init__(self, who: str) -> None:
        super().__init__(f"staff member {who!r} not found", f"找不到工作人员 {who}。")
        self.who = who


class StaffExists(DeskError):
    """A staff member with that name (or Telegram id / login) already exists."""

    code = "staff_exists"

    def __init__(self, who: str) -> None:
        super().__init__(f"staff member {who!r} already exists", f"工作人员 {who} 已存在。")


class PermissionDenied(DeskError):
    """The actor may not take this action on this case (role, or not the case's assignee).

    `reason` is the Chinese sentence saying why and what to do; without it a generic one."""

    code = "permission_denied"

    def __init__(self, who: str, action: str, reason: str | None = None) -> None:
        super().__init__(
            f"{who} may not {action}",
            reason or f"您没有权限执行此操作（{action}），请联系主管。",
        )
        self.who = who
        self.action = action


class MissingText(DeskError):
    """A reason, note or question that must be given was empty or blank."""

    code = "missing_text"

    def __init__(self, field: str, label: str) -> None:
        super().__init__(f"{field} must not be empty", f"请填写{label}，不能为空。")
        self.field = field


class StaffRequired(DeskError):
    """A staff step on a case without an assignee, and no acting staff member was named."""

    code = "staff_required"

    def __init__(self, number: str, action: str) -> None:
        super().__init__(
            f"case {number}: no assignee; name the acting staff member",
            f"案件 {number} 还没有承办人：{action}时请写明由谁办理（--staff 姓名），或先认领。",
        )
        self.number = number


class UnknownStatus(DeskError):
    """A case status filter that is not one of the case statuses."""

    code = "unknown_status"

    def __init__(self, status: str, valid: Sequence[str]) -> None:
        super().__init__(
            f"unknown case status {status!r}",
            f"没有这种案件状态：{status}。可用的状态：{'、'.join(valid)}。",
        )
        self.status = status
        self.valid = list(valid)


class IllegalTransition(DeskError):
    """The action is not allowed in the case's current state."""

    code = "illegal_transition"

    def __init__(self, number: str, status: str, action: str) -> None:
        from desk.states import ACTION_LABELS, STATUS_LABELS  # local: avoid a cycle

        super().__init__(
            f"case {number}: cannot {action} in status {status}",
            f"案件 {number} 当前状态为「{STATUS_LABELS.get(status, status)}」，"
            f"不能{ACTION_LABELS.get(action, action)}。",
        )
        self.number = number
        self.status = status
        self.action = action


class FileRefused(DeskError):
    """A file did not pass the intake checks (`intake.documents`); says why."""

    code = "file_refused"

    def __init__(self, reason: str) -> None:
        super().__init__(f"file refused: {reason}", reason)


class WithdrawRefused(DeskError):
    """The taxpayer may withdraw a case only while no one has claimed it."""

    code = "withdraw_refused"

    def __init__(self, number: str, status: str) -> None:
        from desk.states import STATUS_LABELS  # local: avoid a cycle

        if status in ("in_progress", "waiting_taxpayer"):
            why = "工作人员已经开始办理，不能在这里撤回了。如需撤回，请说“转人工”告诉工作人员。"
        else:
            why = f"当前状态为「{STATUS_LABELS.get(status, status)}」，无法撤回。"
        super().__init__(
            f"case {number}: cannot withdraw in status {status}", f"案件 {number} {why}"
        )
        self.number = number
        self.status = status


class AlreadyClaimed(DeskError):
    """Another staff member claimed the case first (or at the same moment)."""

    code = "already_claimed"

    def __init__(self, number: str, by: str | None) -> None:
        who = f"{by} " if by else "其他同事"
        super().__init__(
            f"case {number} already claimed by {by}",
            f"案件 {number} 已被{who}认领，无需重复处理。",
        )
        self.number = number
        self.by = by


class ConcurrentUpdate(DeskError):
    """The case changed under us; the caller may reload and retry."""

    code = "concurrent_update"

    def __init__(self, number: str) -> None:
        super().__init__(
            f"case {number} was changed concurrently",
            f"案件 {number} 刚被他人修改，请刷新后重试。",
        )
        self.number = number


class MissingSlots(DeskError):
    """Submit found required slots without a value."""

    code = "missing_slots"

    def __init__(self, number: str, missing: Sequence[str]) -> None:
        from desk.case_types import slot_label

        labels = "、".join(slot_label(s) for s in missing)
        super().__init__(
            f"case {number}: missing slots {list(missing)}", f"还缺少以下信息：{labels}。"
        )
        self.missing = list(missing)


class MissingDocuments(DeskError):
    """Submit found required documents that were not uploaded."""

    code = "missing_documents"

    def __init__(self, number: str, missing: Sequence[str], titles: Sequence[str]) -> None:
        super().__init__(
            f"case {number}: missing documents {list(missing)}",
            f"还缺少以下材料：{'、'.join(titles)}，请上传后再提交。",
        )
        self.missing = list(missing)


class UnknownDocument(DeskError):
    """The document key is not on the case type's checklist."""

    code = "unknown_document"

    def __init__(self, case_type: str, key: str) -> None:
        super().__init__(
            f"{case_type}: no document {key!r} on the checklist",
            f"该业务不需要这类材料（{key}）。",
        )


class InvalidTaxpayerId(DeskError):
    """A taxpayer ID that `taxrules.ids.validate_taxpayer_id` refused, as a desk error.

    `reason` is the rules' machine code (`format`, `check_digit`, `legacy_15`, `birth_date`,
    `future_birth_date`); the user message is the rules' reason (Simplified)."""

    code = "invalid_taxpayer_id"

    def __init__(self, refused: InvalidTaxpayerIdError) -> None:
        super().__init__(str(refused), refused.user_message)
        self.reason = refused.reason


class InvalidSlot(DeskError):
    """A slot the case type does not know, or an empty value."""

    code = "invalid_slot"

    def __init__(self, case_type: str, slot: str) -> None:
        super().__init__(
            f"{case_type}: invalid slot {slot!r}", f"该业务不需要填写「{slot}」这一项。"
        )


class InvalidPeriod(DeskError):
    """A tax period that is no period (2025年13月), or of a kind or range the case type does
    not take (`periods:` in case_types.yml)."""

    code = "invalid_period"

    def __init__(self, case_type: str, value: str, reason: str) -> None:
        super().__init__(f"{case_type}: invalid tax period {value!r}", f"{reason}。")


class InvalidRating(DeskError):
    """A rating level that is not one of the five 好差评 levels, or a second rating."""

    code = "invalid_rating"

    def __init__(self, message: str, user_message: str) -> None:
        super().__init__(message, user_message)


class NotFound(DeskError):
    """A generic missing row (attachment, taxpayer, review item)."""

    code = "not_found"

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} not found", "找不到相关记录，请刷新后重试。")


class NothingToReview(DeskError):
    """`/review` in a staff topic found no taxpayer text to put in the review inbox."""

    code = "nothing_to_review"

    def __init__(self) -> None:
        super().__init__(
            "no taxpayer text to review",
            "没有找到可交给管理员复核的纳税人文字消息：请回复纳税人发来的文字消息再发送 "
            "/review，或直接发送 /review 复核其最近一条。",
        )


class ReviewItemClosed(DeskError):
    """The review item was already resolved or marked out of scope (by someone else)."""

    code = "review_item_closed"

    def __init__(self, item_id: int) -> None:
        super().__init__(f"review item {item_id} is closed", "这条消息已经处理过了，请刷新页面。")
        self.item_id = item_id


class CaseNotVisible(CaseNotFound):
    """The case does not exist, or this conversation may not see or change it (it neither
    opened it nor is verified for its taxpayer ID). One message for both: a refusal never
    tells whether someone else's case exists."""

    code = "case_not_visible"

    def __init__(self, number: str) -> None:
        super().__init__(number)
        DeskError.__init__(
            self,
            f"case {number} not visible to this conversation",
            f"没有找到您可以查看的事项 {number}。如果这是您单位的事项，"
            "请先发送“验证”完成身份验证。",
        )


class VerificationRefused(DeskError):
    """A verification (shared contact, one-time code) was refused; `reason` is a stable key:
    not_own_contact, not_registered, bad_code, too_many_tries."""

    code = "verification_refused"

    def __init__(self, reason: str, user_message: str) -> None:
        super().__init__(f"verification refused: {reason}", user_message)
        self.reason = reason


class NoTaxIdInConversation(DeskError):
    """A code was asked for a conversation that has named no taxpayer ID yet."""

    code = "no_tax_id"

    def __init__(self, conversation_id: int) -> None:
        super().__init__(
            f"conversation {conversation_id} named no taxpayer ID",
            "这个会话还没有提供纳税人识别号，无法签发验证码。"
            "可以用命令行：main.py verify-code issue 纳税人识别号",
        )
