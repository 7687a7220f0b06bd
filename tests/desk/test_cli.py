"""The acceptance walk through the real command line, as an operator types it:
migrate, staff add, cases open, claim, complete, show --json.

The first command runs as a real `python main.py` subprocess (the entry point, the exit code,
the streams); the rest go through the same `main.main(argv)` in this process, with the same
environment, because a dozen more interpreter start-ups test nothing more and cost ~10 s."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from testing.cli import run_main, run_subprocess

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow  # a `python main.py` subprocess and a dozen commands


_subprocess = run_subprocess
_run = run_main


def test_cli_walk(cli_env: dict[str, str], tmp_path: Path) -> None:
    _subprocess(cli_env, "migrate")
    if "DATABASE_URL" not in cli_env:
        assert (tmp_path / "data" / "taxdesk.sqlite3").exists()
    staff = json.loads(
        _run(
            cli_env, "staff", "add", "王芳", "--role", "staff", "--telegram-id", "4242", "--json"
        ).stdout
    )
    assert staff["name"] == "王芳" and staff["role"] == "staff"
    dup = _run(cli_env, "staff", "add", "王芳", ok=False)
    assert dup.returncode == 1 and "已存在" in dup.stderr

    bad = _run(
        cli_env,
        "cases",
        "open",
        "--type",
        "tax_certificate",
        "--taxpayer-id",
        "91650100MA78ABCD1B",
        "--slot",
        "tax_period=2025",
        "--json",
        ok=False,
    )
    assert bad.returncode == 1
    assert json.loads(bad.stdout)["error"]["code"] == "invalid_taxpayer_id"
    assert "91650100MA78ABCD1B" not in bad.stdout + bad.stderr

    opened = json.loads(
        _run(
            cli_env,
            "cases",
            "open",
            "--type",
            "tax_certificate",
            "--taxpayer-id",
            "91310115MA1K3YJ12G",
            "--slot",
            "tax_period=2025",
            "--json",
        ).stdout
    )
    number = opened["number"]
    assert opened["status"] == "queued" and opened["deadline_at"]
    assert opened["taxpayer_id_masked"] == "9131****12G"

    listed = json.loads(_run(cli_env, "cases", "list", "--status", "queued", "--json").stdout)
    assert [c["number"] for c in listed] == [number]

    claimed = json.loads(
        _run(cli_env, "cases", "claim", number, "--staff", "王芳", "--json").stdout
    )
    assert claimed["status"] == "in_progress" and claimed["assignee"] == "王芳"
    done = json.loads(
        _run(
            cli_env,
            "cases",
            "complete",
            number,
            "--note",
            "完税证明已开具，请在电子税务局下载。",
            "--json",
        ).stdout
    )
    assert done["status"] == "done" and done["closed_at"]

    again = _run(cli_env, "cases", "complete", number, "--note", "x", ok=False)
    assert again.returncode == 1 and "不能办结" in again.stderr

    shown = json.loads(_run(cli_env, "cases", "show", number, "--json").stdout)
    steps = [(e["action"], e["from"], e["to"]) for e in shown["events"]]
    assert steps == [
        ("open", None, "collecting"),
        ("submit", "collecting", "queued"),
        ("claim", "queued", "in_progress"),
        ("complete", "in_progress", "done"),
    ]
    for e in shown["events"]:
        assert e["at"] and e["actor"]["kind"]
    assert shown["events"][2]["actor"] == {"kind": "staff", "id": str(staff["id"]), "name": "王芳"}
    assert shown["events"][0]["actor"] == {"kind": "system", "id": "cli", "name": None}
    completion = [o for o in shown["outbox"] if o["kind"] == "case_done"]
    assert len(completion) == 1 and completion[0]["status"] == "pending"
    assert completion[0]["idempotency_key"].startswith(f"case:{number}:")
    assert shown["note"] == "完税证明已开具，请在电子税务局下载。"
    assert shown["slots"]["taxpayer_id"] == "9131****12G"  # CLI output never shows a full ID

    text = _run(cli_env, "cases", "show", number).stdout
    assert number in text and "办结" in text
    rejected = _run(cli_env, "cases", "reject", number, "--reason", "x", ok=False)
    assert rejected.returncode == 1
