"""What the taxpayer is told when a case changes: outbox payloads in both scripts.

A payload is JSON: `{"text": {"zh_hans": ..., "zh_hant": ...}, "buttons": [[{"title": {...},
"payload": "/rate{...}"}]], "case_number": ..., "case_type": ...}`. The channel sender picks the
script the conversation uses (default Simplified) and sends the text with the buttons.
Button payloads follow the channel contract (`actions.channel.Button`): Rasa-style intents.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from desk.case_types import CaseType

OFFICE_TZ = ZoneInfo("Asia/Shanghai")

#: The five 好差评 levels: key -> (Simplified, Traditional). Order: best to worst.
RATING_LEVELS: dict[str, tuple[str, str]] = {
    "very_satisfied": ("非常满意", "非常滿意"),
    "satisfied": ("满意", "滿意"),
    "basically_satisfied": ("基本满意", "基本滿意"),
    "dissatisfied": ("不满意", "不滿意"),
    "very_dissatisfied": ("非常不满意", "非常不滿意"),
}
BAD_RATINGS = frozenset({"dissatisfied", "very_dissatisfied"})


def format_deadline(deadline: datetime) -> str:
    """`2026年11月30日 18:00` in the office's time zone."""
    local = deadline.astimezone(OFFICE_TZ)
    return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"


def _payload(case_number: str, ct: CaseType, hans: str, hant: str, **extra: Any) -> dict[str, Any]:
    return {
        "case_number": case_number,
        "case_type": ct.key,
        "text": {"zh_hans": hans, "zh_hant": hant},
        "buttons": [],
        **extra,
    }


def case_queued(number: str, ct: CaseType, deadline: datetime) -> dict[str, Any]:
    """The case is submitted: its number and time limit."""
    d = format_deadline(deadline)
    return _payload(
        number,
        ct,
        f"您的「{ct.title.zh_hans}」已受理，案件编号 {number}，"
        f"我们将在 {d} 前办结（{ct.sla_working_days} 个工作日内）。办结后会在这里通知您。",
        f"您的「{ct.title.zh_hant}」已受理，案件編號 {number}，"
        f"我們將在 {d} 前辦結（{ct.sla_working_days} 個工作日內）。辦結後會在這裡通知您。",
        deadline=deadline.isoformat(),
    )


def case_question(number: str, ct: CaseType, question: str) -> dict[str, Any]:
    """Staff ask the taxpayer something; the answer is relayed back to the case."""
    return _payload(
        number,
        ct,
        f"关于案件 {number}（{ct.title.zh_hans}），工作人员想向您确认：\n"
        f"{question}\n请直接回复本消息。",
        f"關於案件 {number}（{ct.title.zh_hant}），工作人員想向您確認：\n"
        f"{question}\n請直接回覆本訊息。",
        question=question,
    )


def rating_buttons(number: str) -> list[list[dict[str, Any]]]:
    """One row per level, best first; the payload is `/rate{"case_number":..,"level":..}`."""
    rows = []
    for key, (hans, hant) in RATING_LEVELS.items():
        payload = "/rate" + json.dumps(
            {"case_number": number, "level": key}, ensure_ascii=False, separators=(",", ":")
        )
        rows.append([{"title": {"zh_hans": hans, "zh_hant": hant}, "payload": payload}])
    return rows


def case_done(
    number: str, ct: CaseType, note: str, *, documents: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Done: the staff note, and the 好差评 rating request. `documents`: the files staff
    produced (`attachment_id`, `storage_key`, `media_type`, `name`), named here and sent
    with the notice by the channel."""
    names = "、".join(str(d["name"]) for d in documents or [])
    files_hans = f"\n办理结果文件（随后发送）：{names}" if names else ""
    files_hant = f"\n辦理結果文件（隨後發送）：{names}" if names else ""
    p = _payload(
        number,
        ct,
        f"您的案件 {number}（{ct.title.zh_hans}）已办结。\n办理说明：{note}{files_hans}\n"
        "请为本次服务评价：",
        f"您的案件 {number}（{ct.title.zh_hant}）已辦結。\n辦理說明：{note}{files_hant}\n"
        "請為本次服務評價：",
        note=note,
    )
    p["buttons"] = rating_buttons(number)
    if documents:
        p["documents"] = documents
    return p


def case_rejected(number: str, ct: CaseType, reason: str) -> dict[str, Any]:
    """Rejected, with the reason."""
    return _payload(
        number,
        ct,
        f"很抱歉，您的案件 {number}（{ct.title.zh_hans}）未能受理。\n原因：{reason}\n"
        "如有疑问，可回复「转人工」。",
        f"很抱歉，您的案件 {number}（{ct.title.zh_hant}）未能受理。\n原因：{reason}\n"
        "如有疑問，可回覆「轉人工」。",
        reason=reason,
    )


def case_cancelled(number: str, ct: CaseType, reason: str | None) -> dict[str, Any]:
    """Cancelled (by staff, on the taxpayer's behalf, or the taxpayer elsewhere)."""
    why = f"\n原因：{reason}" if reason else ""
    return _payload(
        number,
        ct,
        f"您的案件 {number}（{ct.title.zh_hans}）已取消。{why}",
        f"您的案件 {number}（{ct.title.zh_hant}）已取消。{why}",
        reason=reason,
    )


def case_reopened(number: str, ct: CaseType, deadline: datetime) -> dict[str, Any]:
    """A supervisor reopened the case (e.g. after a bad rating)."""
    d = format_deadline(deadline)
    return _payload(
        number,
        ct,
        f"您的案件 {number}（{ct.title.zh_hans}）已重新办理，我们将在 {d} 前答复您。",
        f"您的案件 {number}（{ct.title.zh_hant}）已重新辦理，我們將在 {d} 前答覆您。",
        deadline=deadline.isoformat(),
    )


#: `reason` of a `conversation_back_to_bot` notice: staff wrote `/bot`, or nobody wrote.
BACK_TO_BOT_REASONS = ("staff", "idle")


def back_to_bot(reason: str, *, idle_minutes: int | None = None) -> dict[str, Any]:
    """The conversation is the bot's again (kind `conversation_back_to_bot`): staff handed it
    back (`reason="staff"`) or nobody wrote for `idle_minutes` (`reason="idle"`)."""
    if reason not in BACK_TO_BOT_REASONS:
        raise ValueError(f"reason must be one of {BACK_TO_BOT_REASONS}, not {reason!r}")
    if reason == "idle":
        hans = f"人工服务已结束（{idle_minutes} 分钟内没有新消息）。"
        hant = f"人工服務已結束（{idle_minutes} 分鐘內沒有新訊息）。"
    else:
        hans, hant = "人工服务已结束。", "人工服務已結束。"
    return {
        "text": {
            "zh_hans": hans + "有其他问题可以继续问我，需要时再说“转人工”。",
            "zh_hant": hant + "有其他問題可以繼續問我，需要時再說「轉人工」。",
        },
        "buttons": [],
        "reason": reason,
    }
