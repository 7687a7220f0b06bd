"""The case queue: `/console/queue` (filters, sorted by deadline, paginated, the SLA as time
left), its table fragment (`?partial=1`, fetched again by static/queue.js), and its event
stream `/console/queue/events` (a case changed: fetch the table again).

All data comes from `Desk.queue_page` (one statement a page); taxpayer IDs are masked
(`taxrules.masking`), times shown in Beijing time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
from aiohttp import web

from console.app import DEPS
from console.auth import STAFF, require
from console.live import Versions
from console.streams import change_stream, install
from desk.cli import STATUS_LABELS
from desk.errors import DeskError
from desk.services import QueuePage, QueueRow
from desk.states import CaseStatus
from taxrules.masking import mask_taxpayer_id

PAGE_SIZE = 50
ASSIGNEE_CHOICES = {"": "全部", "mine": "我的", "unassigned": "未认领"}
VERIFIED_CHOICES = {"": "全部", "yes": "已验证", "no": "未验证"}
BAD_FILTER = "筛选条件有误：{what}。已按默认条件显示。"


@dataclass
class Filters:
    """The queue's filters as the query string gives them (kept as typed for the form)."""

    status: str = ""
    case_type: str = ""
    assignee: str = ""
    overdue: bool = False
    verified: str = ""
    page: int = 1

    @classmethod
    def parse(cls, query: Any) -> tuple[Filters, list[str]]:
        """The filters, and what was wrong with the query (shown; the rest still applies)."""
        problems = []
        f = cls(
            status=str(query.get("status", "")).strip(),
            case_type=str(query.get("type", "")).strip(),
            assignee=str(query.get("assignee", "")).strip(),
            overdue=query.get("overdue", "") in ("1", "on", "true"),
            verified=str(query.get("verified", "")).strip(),
        )
        try:
            f.page = max(1, min(int(query.get("page", "1")), 10_000))
        except ValueError:
            problems.append("页码应为数字")
        if f.status and f.status not in {str(s) for s in CaseStatus}:
            problems.append(f"没有“{f.status[:20]}”这个状态")
            f.status = ""
        if f.assignee not in ASSIGNEE_CHOICES and not f.assignee.isdigit():
            problems.append("承办人选项无效")
            f.assignee = ""
        if f.verified not in VERIFIED_CHOICES:
            problems.append("验证选项无效")
            f.verified = ""
        return f, problems

    def query(self, **change: Any) -> str:
        """The query string of these filters (with `change` applied), for links."""
        values = {
            "status": self.status,
            "type": self.case_type,
            "assignee": self.assignee,
            "overdue": "1" if self.overdue else "",
            "verified": self.verified,
            "page": str(self.page) if self.page > 1 else "",
        }
        values.update({k: str(v) for k, v in change.items()})
        return urlencode({k: v for k, v in values.items() if v})


def time_left(row: QueueRow) -> str:
    """The SLA as people say it: "剩 2 个工作日", "剩 3 小时", "已超期 2 天"; "" when the
    case has no running time limit (closed, or no deadline)."""
    if row.due is None or row.left is None:
        return ""
    left = row.left
    if left <= timedelta(0):
        late = -left
        if late >= timedelta(days=1):
            return f"已超期 {late.days} 天"
        return f"已超期 {max(1, int(late.total_seconds() // 3600))} 小时"
    if left >= timedelta(days=1) and row.working_days_left:
        return f"剩 {row.working_days_left} 个工作日"
    hours = int(left.total_seconds() // 3600)
    if hours >= 1:
        return f"剩 {hours} 小时"
    return f"剩 {max(1, int(left.total_seconds() // 60))} 分钟"


def masked_id(row: QueueRow) -> str:
    tid = (row.case.slots or {}).get("taxpayer_id")
    return mask_taxpayer_id(str(tid)) if tid else "—"


async def _load(request: web.Request, f: Filters) -> QueuePage:
    deps = request.app[DEPS]
    staff = request[STAFF]
    assignee_id = None
    if f.assignee == "mine":
        assignee_id = staff.id
    elif f.assignee.isdigit():
        assignee_id = int(f.assignee)
    async with deps.runtime.sessions() as s:
        return await deps.runtime.desk(s).queue_page(
            status=f.status or None,
            case_type=f.case_type or None,
            assignee_id=assignee_id,
            unassigned=f.assignee == "unassigned",
            overdue=f.overdue,
            verified={"yes": True, "no": False}.get(f.verified),
            limit=PAGE_SIZE,
            offset=(f.page - 1) * PAGE_SIZE,
        )


@require("staff")
async def queue_page(request: web.Request) -> web.StreamResponse:
    deps = request.app[DEPS]
    f, problems = Filters.parse(request.query)
    version = deps.live.versions.case_event  # read before the page: a later change streams
    try:
        page = await _load(request, f)
    except DeskError as exc:  # an unknown case type: show why, and the default queue
        problems.append(exc.user_message)
        f = Filters()
        page = await _load(request, f)
    catalog = deps.runtime.catalog
    ctx = {
        "f": f,
        "page": page,
        "version": version,
        "problems": problems,
        "bad_filter": BAD_FILTER.format(what="；".join(problems)) if problems else "",
        "types": {ct.key: ct.title.zh_hans for ct in catalog},
        "status_labels": STATUS_LABELS,
        "statuses": [str(s) for s in CaseStatus],
        "assignees": ASSIGNEE_CHOICES,
        "verified_choices": VERIFIED_CHOICES,
        "time_left": time_left,
        "masked_id": masked_id,
        "type_label": lambda key: catalog.get(key).title.zh_hans if key in catalog else key,
    }
    template = "queue_table.html" if request.query.get("partial") == "1" else "queue.html"
    response = aiohttp_jinja2.render_template(template, request, ctx)
    response.headers["Cache-Control"] = "no-store"
    return response


@require("staff")
async def queue_events(request: web.Request) -> web.StreamResponse:
    """A `changed` event whenever any case changed (a new case, a step, a note) since the
    page's `?since=` (the feed's case-event version it was rendered at)."""
    last = request.app[DEPS].live.versions.case_event
    since = request.query.get("since", "")
    if since.isdigit():
        last = min(last, int(since))

    async def changed(now: Versions) -> str | None:
        nonlocal last
        if now.case_event == last:
            return None  # messages and notices only: the queue shows none of them
        last = now.case_event
        return str(now.case_event)

    return await change_stream(request, changed)


def setup(app: web.Application) -> None:
    install(app)
    app.router.add_get("/console/queue", queue_page, name="queue")
    app.router.add_get("/console/queue/events", queue_events, name="queue_events")
