"""The staff commands as an operator types them, through `main.main` in this process (the
subprocess walk is in test_cli.py): the bugs of issue 8 and the new commands."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import main
from testing.services import create_pg_database, drop_pg_database

TAX_ID = "91310115MA1K3YJ12G"
BEIJING = ZoneInfo("Asia/Shanghai")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def cli(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    monkeypatch.setenv("TAXDESK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TAXDESK_LOG_LEVEL", "WARNING")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    url = None
    if request.param == "postgres":
        url = create_pg_database()
        monkeypatch.setenv("DATABASE_URL", url)
    try:
        assert main.main(["migrate"]) == 0
        yield
    finally:
        if url:
            drop_pg_database(url)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main.main(list(argv))
    except SystemExit as exc:  # argparse refusals
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def ok(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    return out


def ok_json(capsys: pytest.CaptureFixture[str], *argv: str) -> object:
    return json.loads(ok(capsys, *argv, "--json"))


async def _rate_badly(number: str) -> None:
    from app.settings import Settings
    from desk.runtime import DeskRuntime

    rt = DeskRuntime.create(Settings().effective_database_url)
    try:
        async with rt.sessions() as session:
            await rt.desk(session).rate(number, "very_dissatisfied", comment="太慢")
    finally:
        await rt.close()


def _open(capsys: pytest.CaptureFixture[str], period: str) -> str:
    opened = ok_json(
        capsys,
        "cases",
        "open",
        "--type",
        "tax_certificate",
        "--taxpayer-id",
        TAX_ID,
        "--slot",
        f"tax_period={period}",
    )
    assert isinstance(opened, dict)
    return str(opened["number"])


def test_staff_work_from_the_command_line(
    cli: None, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    for name, role in [("王芳", "staff"), ("李四", "staff"), ("赵主任", "supervisor")]:
        ok(capsys, "staff", "add", name, "--role", role)
    capsys.readouterr()
    with caplog.at_level(logging.INFO):
        first = _open(capsys, "2025")
        second = _open(capsys, "2024")
    items = ok_json(capsys, "cases", "list")
    assert isinstance(items, list)
    deadline = datetime.fromisoformat(items[0]["deadline_at"]).astimezone(BEIJING)
    due = f"截止 {deadline:%Y-%m-%d %H:%M}"
    # the provisional 2027 calendar is mentioned only when a deadline falls in it (once)
    provisional = [r for r in caplog.records if "provisional" in r.getMessage()]
    assert len(provisional) == (1 if deadline.year == 2027 else 0)

    # list: masked ID and period tell the cases apart; Beijing time
    listed = ok(capsys, "cases", "list")
    lines = listed.strip().splitlines()
    assert len(lines) == 2
    assert all("9131****12G" in line for line in lines)
    assert {"2025", "2024"} == {p for line in lines for p in ("2025", "2024") if p in line}
    assert "+00:00" not in listed and due in listed and deadline.hour == 18
    assert TAX_ID not in listed
    assert {i["tax_period"] for i in items} == {"2025", "2024"}
    assert items[0]["deadline_at"].endswith("+00:00")  # JSON stays ISO with offset

    # bogus status: an error listing the valid ones, exit 2
    code, out, err = run(capsys, "cases", "list", "--status", "bogus")
    assert code == 2 and "bogus" in err and "waiting_taxpayer" in err and "没有案件" not in out

    # a plain member may not reject an unclaimed case; a blank reason is refused
    code, _out, err = run(capsys, "cases", "reject", first, "--staff", "李四", "--reason", "x")
    assert code == 1 and "请先认领" in err
    ok(capsys, "cases", "claim", first, "--staff", "王芳")
    code, _out, err = run(capsys, "cases", "reject", first, "--reason", "")
    assert code == 1 and "不能为空" in err
    code, out, _err = run(capsys, "cases", "reject", first, "--reason", "   ", "--json")
    assert code == 1 and json.loads(out)["error"]["code"] == "missing_text"
    code, _out, err = run(capsys, "cases", "complete", first, "--staff", "李四", "--note", "好")
    assert code == 1 and "由 王芳 承办" in err

    # ask, the actions a member may take, a supervisor completes
    question = f"识别号 {TAX_ID} 需要哪一年度的？"
    asked = ok_json(capsys, "cases", "ask", first, "--question", question)
    assert isinstance(asked, dict) and asked["status"] == "waiting_taxpayer"
    history = ok(capsys, "cases", "show", first) + ok(capsys, "cases", "show", first, "--json")
    assert TAX_ID not in history  # the CLI never prints a full taxpayer ID
    assert "王芳  向纳税人提问  办理中 -> 等待纳税人补充  识别号 9131****12G 需要" in history
    assert "系统（命令行）  提交" in history
    acts = ok_json(capsys, "cases", "actions", first, "--staff", "李四")
    assert acts == {"number": first, "actions": ["note"]}
    ok(capsys, "cases", "claim", second, "--staff", "王芳")
    done = ok_json(capsys, "cases", "complete", second, "--staff", "赵主任", "--note", "已开具")
    assert isinstance(done, dict) and done["assignee"] == "王芳"
    assert done["closed_by"]["name"] == "赵主任"
    shown = ok(capsys, "cases", "show", second)
    assert "承办 王芳" in shown and "办结人 赵主任" in shown
    assert "所属期：2024" in shown
    assert "纳税人识别号（统一社会信用代码或身份证号）：9131****12G" in shown
    assert due in shown and "+00:00" not in shown
    assert "赵主任  办结  办理中 -> 已办结  已开具" in shown

    # a bad rating opens a follow-up; only a supervisor closes it, with a note
    asyncio.run(_rate_badly(second))
    follow_ups = ok_json(capsys, "cases", "follow-ups")
    assert isinstance(follow_ups, list) and [f["case_number"] for f in follow_ups] == [second]
    fid = str(follow_ups[0]["id"])
    assert f"#{fid}  {second}" in ok(capsys, "cases", "follow-ups")
    code, _out, err = run(
        capsys, "cases", "follow-up-close", fid, "--staff", "王芳", "--note", "x"
    )
    assert code == 1 and "只有主管" in err
    closed = ok_json(
        capsys, "cases", "follow-up-close", fid, "--staff", "赵主任", "--note", "已回访"
    )
    assert isinstance(closed, dict) and closed["status"] == "closed"

    # reopen (supervisor, reason required), release, cancel
    code, _out, err = run(capsys, "cases", "reopen", second, "--staff", "王芳", "--reason", "x")
    assert code == 1 and "只有主管" in err
    code, _out, err = run(capsys, "cases", "reopen", second, "--staff", "赵主任", "--reason", "")
    assert code == 1 and "不能为空" in err
    reopened = ok_json(capsys, "cases", "reopen", second, "--staff", "赵主任", "--reason", "复核")
    assert isinstance(reopened, dict) and reopened["status"] == "queued"
    ok(capsys, "cases", "claim", second, "--staff", "李四")
    released = ok_json(capsys, "cases", "release", second)
    assert isinstance(released, dict) and released["assignee"] is None
    code, _out, err = run(capsys, "cases", "cancel", second, "--reason", "重复")
    assert code == 1 and "--staff" in err  # no assignee to act as
    cancelled = ok_json(capsys, "cases", "cancel", second, "--staff", "赵主任", "--reason", "重复")
    assert isinstance(cancelled, dict) and cancelled["status"] == "cancelled"
    assert "取消人 赵主任" in ok(capsys, "cases", "show", second)

    # follow-ups and the review inbox (empty here) answer in Chinese, as JSON lists
    assert "没有待处理的回访" in ok(capsys, "cases", "follow-ups")
    assert ok_json(capsys, "cases", "follow-ups") == []
    assert "没有待复核的消息" in ok(capsys, "review", "list")
    code, _out, err = run(
        capsys, "cases", "follow-up-close", "7", "--staff", "赵主任", "--note", "x"
    )
    assert code == 1 and "找不到" in err


def test_failed_open_leaves_no_draft(cli: None, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run(
        capsys, "cases", "open", "--type", "tax_certificate", "--taxpayer-id", TAX_ID
    )
    assert code == 1 and "所属期" in err
    code, _out, err = run(
        capsys,
        "cases",
        "open",
        "--type",
        "return_correction",
        "--taxpayer-id",
        TAX_ID,
        "--slot",
        "tax_type=vat",
        "--slot",
        "tax_period=2019-12",
    )
    assert code == 1 and "承诺书" in err
    assert ok_json(capsys, "cases", "list", "--status", "collecting") == []
    # --draft keeps one on purpose; its tax type shows by name in the list
    draft = ok_json(
        capsys,
        "cases",
        "open",
        "--type",
        "return_correction",
        "--taxpayer-id",
        TAX_ID,
        "--slot",
        "tax_type=vat",
        "--slot",
        "tax_period=2019-12",
        "--draft",
    )
    assert isinstance(draft, dict) and draft["status"] == "collecting"
    line = ok(capsys, "cases", "list", "--status", "collecting")
    assert "增值税" in line and "2019年12月" in line and "9131****12G" in line
    shown = ok(capsys, "cases", "show", str(draft["number"]))
    assert "税种：增值税（vat）" in shown and "所属期：2019年12月（2019-12）" in shown


async def _case_with_a_topic() -> str:
    """A submitted case of a Telegram conversation that has a staff topic."""
    from app.settings import Settings
    from desk.runtime import DeskRuntime

    rt = DeskRuntime.create(Settings().effective_database_url)
    try:
        async with rt.sessions() as session:
            desk = rt.desk(session)
            conv = await desk.ensure_conversation("telegram", "4711", "4711")
            case = await desk.open_and_submit(
                "tax_certificate",
                taxpayer_id=conv.taxpayer_id,
                conversation_id=conv.id,
                slots={"tax_period": "2025", "taxpayer_id": TAX_ID},
            )
            await desk.save_staff_topic(conv.id, -100777, 12)
            return case.number
    finally:
        await rt.close()


async def _staff_rows() -> list[str]:
    from sqlalchemy import select

    from app.settings import Settings
    from desk.models import Outbox
    from desk.runtime import DeskRuntime

    rt = DeskRuntime.create(Settings().effective_database_url)
    try:
        async with rt.sessions() as session:
            rows = await session.scalars(
                select(Outbox).where(Outbox.channel == "telegram_staff").order_by(Outbox.id)
            )
            return [r.kind for r in rows]
    finally:
        await rt.close()


def test_a_step_from_the_command_line_refreshes_the_topic_card(
    cli: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """Staff working a case from the CLI: its topic's pinned card (and name) follow, as after
    a step taken in the topic (a `staff_card` row for the staff group's sender)."""
    ok(capsys, "staff", "add", "王芳", "--role", "staff")
    number = asyncio.run(_case_with_a_topic())
    before = asyncio.run(_staff_rows()).count("staff_card")
    ok(capsys, "cases", "claim", number, "--staff", "王芳")
    ok(capsys, "cases", "complete", number, "--note", "已开具。")
    assert asyncio.run(_staff_rows()).count("staff_card") == before + 2
    # a case of another taxpayer, whose conversation has no topic, queues nothing for it
    other = ok_json(
        capsys,
        "cases",
        "open",
        "--type",
        "tax_certificate",
        "--taxpayer-id",
        "91650100MA78ABCD1A",
        "--slot",
        "tax_period=2024",
    )
    assert isinstance(other, dict)
    plain = str(other["number"])
    ok(capsys, "cases", "claim", plain, "--staff", "王芳")
    assert asyncio.run(_staff_rows()).count("staff_card") == before + 2


def test_the_first_admin_by_setup_link_then_passwd(
    cli: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`staff add NAME --role admin --setup-link` prints a one-time link signed with the
    console's key (the data directory's); the page's step (`use_setup_token`) sets the
    password once. `staff passwd NAME` sets one from stdin."""
    import io
    import os

    from desk.keys import load_secret
    from desk.runtime import DeskRuntime
    from desk.services.accounts import BadSetupLink

    out = ok(capsys, "staff", "add", "主任", "--role", "admin", "--setup-link")
    assert "一次性设置密码链接" in out
    link = out.strip().splitlines()[-1]
    assert link.startswith("http://localhost:8080/console/setup/")
    token = link.rsplit("/", 1)[1]
    key = load_secret(Path(os.environ["TAXDESK_DATA_DIR"]))
    url = os.environ.get("DATABASE_URL") or (
        f"sqlite+aiosqlite:///{Path(os.environ['TAXDESK_DATA_DIR']) / 'taxdesk.sqlite3'}"
    )

    async def use() -> tuple[bool, bool]:
        rt = DeskRuntime.create(url)
        try:
            async with rt.sessions() as s:
                d = rt.desk(s)
                await d.use_setup_token(token, key, "correct horse battery")
                first = await d.authenticate("主任", "correct horse battery") is not None
                try:
                    await d.use_setup_token(token, key, "another password")
                    again = True
                except BadSetupLink:
                    again = False
                return first, again
        finally:
            await rt.close()

    assert asyncio.run(use()) == (True, False)

    monkeypatch.setattr("sys.stdin", io.StringIO("a changed password\n"))
    assert "已设置 主任 的密码" in ok(capsys, "staff", "passwd", "主任")

    async def check() -> bool:
        rt = DeskRuntime.create(url)
        try:
            async with rt.sessions() as s:
                return await rt.desk(s).authenticate("主任", "a changed password") is not None
        finally:
            await rt.close()

    assert asyncio.run(check())
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    code, _out, err = run(capsys, "staff", "passwd", "主任")
    assert code != 0 and "至少需要 8 个字符" in err
