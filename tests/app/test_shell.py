"""The terminal channel and the entry points without a token: the same dialogue and the same
database as the bot, a real NLU model, SQLite."""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from app.container import build_container
from app.settings import Settings
from app.shell import ShellChannel
from desk.migrate import upgrade
from intake.storage import LocalAttachmentStore
from testing.app import main_process, stop_main
from testing.botapi_server import BotAPIServer
from testing.samples import GOOD_ID, REQUEST, make_jpeg, make_pdf
from testing.waits import holds

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow  # `python main.py ...` in subprocesses


def _settings(tmp_path: Path, models_dir: Path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "var",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'shell.sqlite3'}",
        models_dir=models_dir,
        redis_url=None,
        telegram_bot_token=None,
    )


async def test_shell_runs_the_flow_from_a_pipe(
    tmp_path: Path, models_dir: Path, interpreter: Any
) -> None:
    settings = _settings(tmp_path, models_dir)
    await asyncio.to_thread(upgrade, settings.effective_database_url)
    (tmp_path / "letter.pdf").write_bytes(make_pdf())
    (tmp_path / "bad.docx").write_bytes(b"PK\x03\x04" + b"\0" * 100)
    (tmp_path / "photo.jpg").write_bytes(make_jpeg())
    lines = [
        REQUEST["hans"],
        GOOD_ID,
        f"/upload {tmp_path / 'bad.docx'}",
        f"/upload {tmp_path / 'letter.pdf'} 承诺书",
        f"/upload {tmp_path / 'photo.jpg'} 发票",
        "1",  # the [提交] button
        "/status",
    ]
    out = io.StringIO()
    async with build_container(settings, interpreter=interpreter) as services:
        shell = ShellChannel(services, stdin=io.StringIO("\n".join(lines) + "\n"), stdout=out)
        assert await shell.run() == 0
        text = out.getvalue()
        print(text)
        assert "纳税人识别号" in text
        assert "暂不支持这种文件" in text
        assert "[1] 提交" in text
        assert "已受理，案件编号 TX-" in text
        assert "您有 1 个在办事项" in text
        number = text.split("案件编号 ")[1].split("，")[0]
        async with services.runtime.sessions() as session:
            detail = await services.runtime.desk(session).case_detail(number)
        assert detail.case.status == "queued"
        assert sorted(a.document_key or "" for a in detail.attachments) == [
            "commitment_letter",
            "supporting",
        ]
        tracker = await services.engine.tracker("shell", "terminal")
        assert tracker is not None and tracker.active_form is None


async def test_shell_verification_as_tried_by_hand(
    tmp_path: Path, models_dir: Path, interpreter: Any
) -> None:
    """What was tried by hand: a stranger asks the status of a company's ID, is told only
    its own cases show and offered the contact button; a typed rating payload for the
    company's case is refused; an unregistered number is refused, the handler's own number
    verifies; status then shows the company's case; a one-time code in Traditional."""
    settings = _settings(tmp_path, models_dir)
    await asyncio.to_thread(upgrade, settings.effective_database_url)
    async with build_container(settings, interpreter=interpreter) as services:
        async with services.runtime.sessions() as session:
            desk = services.runtime.desk(session)
            owner = await desk.taxpayer_for_tax_id(GOOD_ID)
            case = await desk.open_and_submit(
                "tax_certificate",
                taxpayer_id=owner.id,
                slots={"taxpayer_id": GOOD_ID, "tax_period": "2025"},
            )
            await desk.add_handler(GOOD_ID, "13800138000")
            code = await desk.issue_code("11010519491231002X")
        lines = [
            f"查一下{GOOD_ID}的进度",
            "/rate" + json.dumps({"case": case.number, "level": "very_dissatisfied"}),
            "/contact 13900139000",
            "/contact +86 138 0013 8000",
            "/status",
            f"驗證碼 {code}",
        ]
        out = io.StringIO()
        shell = ShellChannel(services, stdin=io.StringIO("\n".join(lines) + "\n"), stdout=out)
        assert await shell.run() == 0
        text = out.getvalue()
        print(text)
        first, rest = text.split("没有找到您可以查看的事项", 1)
        assert "这里只显示本聊天提交的事项" in first and case.number not in first
        assert "分享我的手机号" in first and "/contact" in first
        assert "139****9000" in rest and "不在任何单位的办税人员名单中" in rest
        assert "验证成功" in rest and f"{case.number} 完税证明" in rest
        assert "驗證成功" in rest and "1101****02X" in rest
        assert GOOD_ID not in text


def test_bot_and_worker_without_a_token_refuse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Through `main.main` in this process (the `run` tests below start real subprocesses)."""
    import main

    for name in [k for k in os.environ if k.startswith(("TELEGRAM_", "WEBHOOK_"))]:
        monkeypatch.delenv(name)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("TAXDESK_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.chdir(tmp_path)
    for cmd in (["bot"], ["bot", "--no-worker"], ["worker"]):
        code = main.main(cmd)
        out = capsys.readouterr().out
        assert code == 2, (cmd, out)
        assert "TELEGRAM_BOT_TOKEN" in out and "@BotFather" in out


def _no_token_env(tmp_path: Path, models_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WEBHOOK_"))}
    env.update(
        TAXDESK_DATA_DIR=str(tmp_path / "var"),
        TAXDESK_MODELS_DIR=str(models_dir),
        TAXDESK_LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    env["TAXDESK_PORT"] = "0"  # the web chat and console on a free port
    return env


async def _read_until(stream: asyncio.StreamReader, marker: str, timeout: float = 60) -> str:  # noqa: ASYNC109
    """What `stream` printed up to and including the line containing `marker`."""
    seen = ""
    async with asyncio.timeout(timeout):
        while marker not in seen:
            line = await stream.readline()
            if not line:
                break
            seen += line.decode(errors="replace")
    return seen


async def test_run_without_a_token_and_no_terminal_keeps_running(
    tmp_path: Path, models_dir: Path
) -> None:
    """`main.py run` under a service manager (stdin not a terminal): it says Telegram is off
    and how to turn it on, keeps running (no crash loop), and stops cleanly on SIGTERM."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "main.py"),
        "run",
        cwd=str(tmp_path),
        env=_no_token_env(tmp_path, models_dir),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        said = await _read_until(proc.stdout, "Waiting for SIGTERM")
        assert "Telegram is off" in said and "TELEGRAM_BOT_TOKEN" in said, said
        assert "@BotFather" in said and "Waiting for SIGTERM or Ctrl-C" in said, said
        said += await _read_until(proc.stdout, "staff console")
        # without a token the web chat and the console are served (on the free port it says)
        port = re.search(r"http://localhost:(\d+)/console", said)
        assert port is not None, said
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port[1]}/console/login") as resp:
                assert resp.status == 200 and "工作人员登录" in await resp.text()
        await holds(lambda: proc.returncode is None, during=0.5)  # still running
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
        assert proc.returncode == 0, err.decode()
        assert "stopped" in out.decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_run_without_a_token_on_a_terminal_opens_the_shell(
    tmp_path: Path, models_dir: Path
) -> None:
    """With stdin a terminal (a pty), `main.py run` without a token opens the shell, which
    answers a taxpayer from the real model and quits on /exit."""
    import pty

    url = f"sqlite+aiosqlite:///{tmp_path / 'var' / 'taxdesk.sqlite3'}"
    await asyncio.to_thread(upgrade, url)
    master, slave = pty.openpty()
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(ROOT / "main.py"),
            "run",
            cwd=str(tmp_path),
            env=_no_token_env(tmp_path, models_dir),
            stdin=slave,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            assert proc.stdout is not None
            said = await _read_until(proc.stdout, "terminal shell")
            assert "Telegram is off" in said and "opening the terminal shell" in said, said
            os.write(master, (REQUEST["hans"] + "\n/exit\n").encode())
            out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
            assert proc.returncode == 0, err.decode()[-2000:]
            assert "纳税人识别号" in out.decode(), out.decode()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    finally:
        os.close(master)
        os.close(slave)


@pytest.mark.parametrize("command", [["run"], ["bot", "--no-worker"]])
async def test_main_runs_the_bot_until_sigterm(
    tmp_path: Path, models_dir: Path, command: list[str], botapi: BotAPIServer
) -> None:
    """The composition root for real: `main.py run` / `bot` against the local Bot API server
    answers a taxpayer, then stops cleanly on SIGTERM."""
    server = botapi
    async with main_process(server, tmp_path, models_dir, *command) as proc:
        server.user_sends_text(4242, REQUEST["hans"])
        (reply,) = await server.wait_for_messages(4242, 1, timeout=30)
        assert "纳税人识别号" in (reply.text or "")
        await stop_main(proc)


async def test_bytes_that_are_not_utf8_do_not_end_the_shell(
    tmp_path: Path, models_dir: Path, interpreter: Any
) -> None:
    """A line with Latin-1 or broken bytes is said so and replaced; the next lines work and
    everything is stored (the database never meets a lone surrogate)."""
    settings = _settings(tmp_path, models_dir)
    await asyncio.to_thread(upgrade, settings.effective_database_url)
    raw = b"\xff\xfe\xe4\xb9\n\xc4\xe3\xba\xc3\n/status\n"  # broken, GBK 你好, a command
    stdin = io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8")  # strict, as a terminal's
    out = io.StringIO()
    async with build_container(settings, interpreter=interpreter) as services:
        shell = ShellChannel(services, stdin=stdin, stdout=out)
        assert await shell.run() == 0
    text = out.getvalue()
    print(text)
    assert text.count("不是 UTF-8 编码") == 2
    assert "没有在办事项" in text  # the shell kept going


async def test_the_shell_shows_notices_of_its_own_chat(
    tmp_path: Path, models_dir: Path, interpreter: Any
) -> None:
    """Submitted in the shell, completed with a document by staff elsewhere (the CLI's
    services): the completion shows in the shell with its rating buttons and the file, a
    number presses a rating; another shell chat's notice is not shown here."""
    settings = _settings(tmp_path, models_dir)
    await asyncio.to_thread(upgrade, settings.effective_database_url)
    out = io.StringIO()
    async with build_container(settings, interpreter=interpreter) as services:
        shell = ShellChannel(services, stdin=io.StringIO(), stdout=out)
        other = ShellChannel(services, chat_id="other", stdin=io.StringIO(), stdout=io.StringIO())
        await shell.turn(f"我要开完税证明，2025年度，{GOOD_ID}")
        await shell.turn("1")  # [提交]
        number = out.getvalue().split("案件编号 ")[1].split("，")[0]
        runtime = services.runtime
        assert runtime is not None
        async with runtime.sessions() as session:
            desk = runtime.desk(session)
            staff = await desk.add_staff("王芳")
            await desk.claim(number, staff.id)
            store = LocalAttachmentStore(settings.data_dir / "attachments")
            att = await desk.check_and_store(store, make_pdf(), "完税证明.pdf")
            await desk.complete(number, staff.id, "已为您开具。", attachment_ids=[att.id])
        assert await other.show_notices() == 0  # not its chat
        assert await shell.show_notices() == 1
        text = out.getvalue()
        assert f"通知> 您的案件 {number}（完税证明）已办结。" in text
        assert "[2] 满意" in text and "📎 完税证明.pdf" in text
        await shell.turn("2")  # presses 满意
        assert "评价（满意）" in out.getvalue().split("[2] 满意")[-1]
        async with runtime.sessions() as session:
            detail = await runtime.desk(session).case_detail(number)
        assert detail.rating is not None and detail.rating.level == "satisfied"
        assert [o.status for o in detail.outbox] == ["sent"]


async def test_a_staff_question_shows_in_the_shell_and_the_answer_goes_back(
    tmp_path: Path, models_dir: Path, interpreter: Any
) -> None:
    settings = _settings(tmp_path, models_dir)
    await asyncio.to_thread(upgrade, settings.effective_database_url)
    out = io.StringIO()
    async with build_container(settings, interpreter=interpreter) as services:
        shell = ShellChannel(services, stdin=io.StringIO(), stdout=out)
        await shell.turn(f"我要开完税证明，2025年度，{GOOD_ID}")
        await shell.turn("1")  # [提交]
        number = out.getvalue().split("案件编号 ")[1].split("，")[0]
        runtime = services.runtime
        assert runtime is not None
        async with runtime.sessions() as session:
            desk = runtime.desk(session)
            staff = await desk.add_staff("王芳")
            await desk.claim(number, staff.id)
            await desk.ask_taxpayer(number, staff.id, "请问开具证明的用途是什么？")
        assert await shell.show_notices() == 1
        assert "通知> 关于案件" in out.getvalue() and "用途是什么" in out.getvalue()
        await shell.turn("用于办理银行贷款")
        async with runtime.sessions() as session:
            detail = await runtime.desk(session).case_detail(number)
        assert detail.case.status == "in_progress"
        assert detail.events[-1].action == "answer"
        assert detail.events[-1].data["text"] == "用于办理银行贷款"
