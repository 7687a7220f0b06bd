"""Issue 9 point 4 as a person tries it in `main.py shell`, against the real desk (SQLite and
PostgreSQL) and the trained model: the template comes as a file, a complaint is recorded as
a follow-up staff see (`main.py cases follow-ups`) and the chat goes on, two requests."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.container import build_container
from app.settings import Settings
from app.shell import ShellChannel
from desk.models import FollowUp
from testing.samples import GOOD_ID, make_pdf

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _settings(tmp_path: Path, models_dir: Path, database_url: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "var",
        database_url=database_url,
        models_dir=models_dir,
        redis_url=None,
        telegram_bot_token=None,
    )


async def test_questions_complaint_and_two_requests_in_the_shell(
    tmp_path: Path, models_dir: Path, interpreter: Any, database_url: str
) -> None:
    settings = _settings(tmp_path, models_dir, database_url)
    (tmp_path / "letter.pdf").write_bytes(make_pdf())
    lines = [
        "国庆节上班吗",
        "承诺书模板在哪里下载？",
        "你们效率太低了 我要投诉",
        "告诉我进度",
        "我要更正增值税申报，顺便开个完税证明",
        "2025年3月",
        GOOD_ID,
        "要交什么材料",
        f"/upload {tmp_path / 'letter.pdf'} 承诺书",
        "1",  # [提交]
        "1",  # [现在办理] the certificate
    ]
    out = io.StringIO()
    async with build_container(settings, interpreter=interpreter) as services:
        shell = ShellChannel(
            services, chat_id="q", stdin=io.StringIO("\n".join(lines) + "\n"), stdout=out
        )
        assert await shell.run() == 0
        text = out.getvalue()
        print(text)
        assert "国庆节：" in text and "办税服务厅不开放" in text  # the desk's calendar
        assert "📎 承诺书模板.docx" in text and "commitment_letter.docx" in text
        assert "投诉编号" in text and "负责人" in text
        assert "您目前没有在办事项" in text  # the status answer after the complaint
        assert "您还提到「完税证明」" in text
        assert "办理「申报更正」需要" in text
        assert "已受理，案件编号 TX-" in text
        assert "您还提到要办「完税证明」，现在办吗？" in text
        assert text.rstrip().endswith("请问是哪个所属期？（例如：2020年3月、2020年第一季度）")
        async with services.runtime.sessions() as session:
            rows = list((await session.execute(select(FollowUp))).scalars())
        assert [(r.kind, r.text, r.status) for r in rows] == [
            ("complaint", "你们效率太低了 我要投诉", "open")
        ]
        assert rows[0].conversation_id is not None and rows[0].due_at is not None

    env = {k: v for k, v in os.environ.items()}
    env.update(DATABASE_URL=database_url, TAXDESK_DATA_DIR=str(tmp_path / "var"))
    env["TAXDESK_LOG_LEVEL"] = "WARNING"
    proc = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "main.py", "cases", "follow-ups", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    listed = json.loads(proc.stdout)
    assert [(f["kind"], f["text"]) for f in listed] == [("complaint", "你们效率太低了 我要投诉")]
