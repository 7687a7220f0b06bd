"""Verification from the command line, as an office keeps it: handlers add/list/remove/import
(phones normalised and masked), a one-time code issued and accepted, and the 已验证/未验证
mark in `cases list` and `cases show`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from testing.cli import run_main

ROOT = Path(__file__).resolve().parents[2]
TAX_ID = "91310115MA1K3YJ12G"
OTHER_ID = "91650100MA78ABCD1A"

pytestmark = pytest.mark.slow  # the CLI walks, on both databases


_run = run_main  # in-process: the same parser and commands (the entry point: test_cli.py)


def test_handlers_and_codes_from_the_cli(cli_env: dict[str, str], tmp_path: Path) -> None:
    _run(cli_env, "migrate")
    added = _run(cli_env, "handlers", "add", TAX_ID, "+86 138-0013-8000", "--name", "李会计")
    assert "138****8000" in added.stdout and "13800138000" not in added.stdout
    bad = _run(cli_env, "handlers", "add", TAX_ID, "12345", ok=False)
    assert bad.returncode == 1 and "手机号" in bad.stderr

    csv = tmp_path / "handlers.csv"
    csv.write_text(
        "taxpayer_id,phone,name\n"
        f"{TAX_ID},13800138000,李会计\n"  # already there (another spelling)
        f"{OTHER_ID},139 0013 9000,\n"
        f"{OTHER_ID},not-a-phone,张三\n",
        encoding="utf-8",
    )
    imported = json.loads(_run(cli_env, "handlers", "import", str(csv), "--json").stdout)
    assert (imported["added"], imported["existing"]) == (1, 1)
    assert len(imported["errors"]) == 1 and imported["errors"][0].startswith("第 4 行")

    listed = json.loads(_run(cli_env, "handlers", "list", TAX_ID, "--json").stdout)
    assert listed == [
        {"taxpayer_id_masked": "9131****12G", "phone_masked": "+86 138****8000", "name": "李会计"}
    ]
    gone = json.loads(_run(cli_env, "handlers", "remove", TAX_ID, "13800138000", "--json").stdout)
    assert gone == {"removed": True}
    assert json.loads(_run(cli_env, "handlers", "list", TAX_ID, "--json").stdout) == []

    issued = json.loads(_run(cli_env, "verify-code", "issue", TAX_ID, "--json").stdout)
    assert len(issued["code"]) == 8 and issued["code"].isdigit()
    assert issued["taxpayer_id_masked"] == "9131****12G"

    # a case taken by phone: no verified chat behind it
    _run(cli_env, "staff", "add", "王芳")
    opened = json.loads(
        _run(
            cli_env,
            "cases",
            "open",
            "--type",
            "tax_certificate",
            "--taxpayer-id",
            TAX_ID,
            "--slot",
            "tax_period=2025",
            "--json",
        ).stdout
    )
    listing = _run(cli_env, "cases", "list")
    assert "未验证" in listing.stdout
    shown = json.loads(_run(cli_env, "cases", "show", opened["number"], "--json").stdout)
    assert shown["verified"] is False
    assert "未验证" in _run(cli_env, "cases", "show", opened["number"]).stdout


def test_a_csv_saved_by_excel_in_gbk_is_read(tmp_path: Path) -> None:
    from desk.cli import _read_handler_csv

    path = tmp_path / "gbk.csv"
    path.write_bytes(f"纳税人识别号,手机号,姓名\n{TAX_ID},13800138000,李会计\n".encode("gbk"))
    assert _read_handler_csv(str(path)) == [(2, TAX_ID, "13800138000", "李会计")]


def test_a_missing_csv_is_refused_with_a_reason(cli_env: dict[str, str], tmp_path: Path) -> None:
    _run(cli_env, "migrate")
    proc = _run(cli_env, "handlers", "import", str(tmp_path / "nope.csv"), ok=False)
    assert proc.returncode == 1 and "读不到文件" in proc.stderr
