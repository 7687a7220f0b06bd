"""`python main.py train` and `nlu parse|test|shell`, through `main.main` and a subprocess."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

import main
from nlu import cli
from testing.nlu import FIXTURE_CONFIG, FIXTURES

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow  # trains the fixture model, runs `python main.py ...`


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "models"
    code = main.main(
        ["train", "--data", str(FIXTURES), "--config", str(FIXTURE_CONFIG), "--out", str(out)]
    )
    assert code == 0
    return out


def run(capsys: pytest.CaptureFixture[str], models: Path, *argv: str) -> tuple[int, str, str]:
    import os

    os.environ["TAXDESK_MODELS_DIR"] = str(models)
    os.environ["TAXDESK_NLU_CONFIG"] = str(FIXTURE_CONFIG)
    try:
        code = main.main(list(argv))
    finally:
        del os.environ["TAXDESK_MODELS_DIR"], os.environ["TAXDESK_NLU_CONFIG"]
    out, err = capsys.readouterr()
    return code, out, err


def test_train_skips_when_unchanged(capsys: pytest.CaptureFixture[str], models: Path) -> None:
    code, out, _ = run(
        capsys,
        models,
        "train",
        "--data",
        str(FIXTURES),
        "--config",
        str(FIXTURE_CONFIG),
        "--out",
        str(models),
    )
    assert code == 0 and "unchanged" in out


def test_parse_prints_json(capsys: pytest.CaptureFixture[str], models: Path) -> None:
    code, out, _ = run(
        capsys,
        models,
        "nlu",
        "parse",
        "统一社会信用代码91650100MA78ABCD1B",
        "--today",
        "2026-11-27",
    )
    assert code == 0
    result = json.loads(out)
    (entity,) = [e for e in result["entities"] if e["entity"] == "taxpayer_id"]
    assert entity["invalid"] is True and "校验" in entity["reason"]


def test_test_json_and_reports(
    capsys: pytest.CaptureFixture[str], models: Path, tmp_path: Path
) -> None:
    code, out, _ = run(
        capsys,
        models,
        "nlu",
        "test",
        "--data",
        str(FIXTURES / "small.yml"),
        "--out",
        str(tmp_path),
        "--json",
    )
    assert code == 0
    report = json.loads(out)
    assert 0.8 <= report["intent"]["accuracy"] <= 1.0
    assert {"macro_f1", "report", "fallback_rate"} <= set(report["intent"])
    assert "f1" in report["entities"] and "tax_type" in report["entities"]["per_type"]
    assert (tmp_path / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"
    assert isinstance(json.loads((tmp_path / "errors.json").read_text()), list)


def test_cross_validation(
    capsys: pytest.CaptureFixture[str], models: Path, tmp_path: Path
) -> None:
    code, out, _ = run(
        capsys,
        models,
        "nlu",
        "test",
        "--data",
        str(FIXTURES / "small.yml"),
        "--cross-validation",
        "--folds",
        "3",
        "--out",
        str(tmp_path),
        "--json",
    )
    assert code == 0
    report = json.loads(out)
    assert report["cross_validation"]["folds"] == 3
    assert 0.0 <= report["intent"]["accuracy"] <= 1.0
    assert report["intent"]["examples"] == 62


def test_broken_data_reports_location_without_traceback(
    capsys: pytest.CaptureFixture[str], models: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "nlu.yml"
    bad.write_text('version: "3.1"\nnlu:\n- intent: a\n  exmples: |\n    - x\n')
    code, _, err = run(capsys, models, "train", "--data", str(bad), "--out", str(tmp_path / "m"))
    assert code == 1
    assert f"{bad}:4: unknown key `exmples`" in err and "Traceback" not in err


def test_missing_model_is_explained(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, tmp_path / "none", "nlu", "parse", "你好")
    assert code == 1 and "python main.py train" in err


def test_shell_reads_lines(models: Path) -> None:
    class Settings:
        models_dir = models
        nlu_config = FIXTURE_CONFIG

    out = io.StringIO()
    code = cli.shell(Settings(), None, stdin=io.StringIO("你好\n\n转人工\n"), stdout=out)
    assert code == 0
    decoder = json.JSONDecoder()
    text, parses, pos = out.getvalue(), [], 0
    while text[pos:].strip():
        pos += len(text[pos:]) - len(text[pos:].lstrip())
        parse, pos = decoder.raw_decode(text, pos)
        parses.append(parse)
    assert [p["intent"]["name"] for p in parses] == ["greet", "request_human"]


def _help(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as done:
        main.main([*argv, "--help"])
    assert done.value.code == 0
    return capsys.readouterr().out


def test_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("train", "nlu"):
        assert command in _help(capsys)
    nlu_help = _help(capsys, "nlu")
    for action in ("parse", "test", "shell"):
        assert action in nlu_help


@pytest.mark.slow
def test_acceptance_on_project_data(
    models_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's acceptance sentence, on the model of the real data/ and config.yml (trained
    once per run): `main.py train` with its defaults (a real subprocess) finds it up to date;
    `nlu parse` (through `main.main`) reads it."""
    env_models = models_dir
    trained = subprocess.run(
        [sys.executable, "main.py", "train", "--out", str(env_models)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    assert "unchanged" in trained.stdout

    monkeypatch.setenv("TAXDESK_MODELS_DIR", str(env_models))

    def parse(text: str) -> dict:
        assert main.main(["nlu", "parse", text]) == 0
        return json.loads(capsys.readouterr().out)

    result = parse("3月我需要更正所屬期為2019年12月的增值稅申報表")
    assert result["intent"]["name"] == "request_correction"
    values = {e["entity"]: e["value"] for e in result["entities"]}
    assert values["tax_period"] == "2019-12" and values["tax_type"] == "vat"
    bad = parse("统一社会信用代码91650100MA78ABCD1B")
    (entity,) = [e for e in bad["entities"] if e["entity"] == "taxpayer_id"]
    assert entity["invalid"] is True
    good = parse("统一社会信用代码91650100MA78ABCD1A")
    (entity,) = [e for e in good["entities"] if e["entity"] == "taxpayer_id"]
    assert "invalid" not in entity and entity["value"] == "91650100MA78ABCD1A"


def test_bad_config_names_file_and_line(
    capsys: pytest.CaptureFixture[str], models: Path, tmp_path: Path
) -> None:
    config = tmp_path / "config.yml"
    config.write_text("language: zh\npipeline:\n  - name: JiebaTokenizer\n  - name: Nope\n")
    code, _, err = run(
        capsys,
        models,
        "train",
        "--data",
        str(FIXTURES),
        "--config",
        str(config),
        "--out",
        str(tmp_path / "m"),
    )
    assert code == 1 and f"{config}:4: unknown component `Nope`" in err
    config.write_text("pipeline:\n  - name: FallbackClassifier\n    treshold: 0.5\n")
    code, _, err = run(
        capsys,
        models,
        "train",
        "--data",
        str(FIXTURES),
        "--config",
        str(config),
        "--out",
        str(tmp_path / "m"),
    )
    assert code == 1 and f"{config}:2:" in err and "treshold" in err


def test_model_option_takes_a_model_store(
    capsys: pytest.CaptureFixture[str], models: Path, tmp_path: Path
) -> None:
    """`--model` given the folder `train --out` wrote uses the newest model inside (Rasa)."""
    code, out, err = run(
        capsys,
        tmp_path / "elsewhere",
        "nlu",
        "test",
        "--model",
        str(models),
        "--data",
        str(FIXTURES / "small.yml"),
        "--out",
        str(tmp_path),
        "--json",
    )
    assert code == 0, err
    assert 0.8 <= json.loads(out)["intent"]["accuracy"] <= 1.0
    code, _, err = run(capsys, models, "nlu", "parse", "--model", str(tmp_path / "no"), "你好")
    assert code == 1 and "python main.py train" in err


def test_repeated_examples_with_entities_train(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The same text annotated twice in different ways (CAIS has such repeats) must not
    break the fingerprint's sort."""
    data = tmp_path / "nlu.yml"
    lines = ['version: "3.1"', "nlu:"]
    for intent, texts in {
        "play": ["我要听[周杰伦](singer)的歌", "播放[稻香](song)"],
        "stop": ["别放了", "停止播放"],
    }.items():
        lines += [f"- intent: {intent}", "  examples: |"]
        lines += [f"    - {t}" for t in texts * 3]
    lines += ["- intent: play", "  examples: |", "    - 我要听[周杰伦](song)的歌"]
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    argv = ["train", "--data", str(data), "--config", str(FIXTURE_CONFIG)]
    code, out, err = run(capsys, tmp_path, *argv, "--out", str(tmp_path / "m"))
    assert code == 0, err
    assert "trained" in out


@pytest.mark.slow
def test_cais_trains_and_tests_through_the_cli(tmp_path: Path) -> None:
    """The public CAIS set (../shared/datasets/cais) through `train --out` and
    `nlu test --model <that folder>`, as subprocesses, as a user types them."""
    cais = ROOT.parent / "shared" / "datasets" / "cais"
    if not cais.is_dir():
        pytest.skip("the shared CAIS data set is not beside this checkout")
    out = tmp_path / "models-cais"
    subprocess.run(
        [
            sys.executable,
            "main.py",
            "train",
            "--data",
            str(cais / "nlu_train.yml"),
            "--out",
            str(out),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    result = subprocess.run(
        [
            sys.executable,
            "main.py",
            "nlu",
            "test",
            "--model",
            str(out),
            "--data",
            str(cais / "nlu_test.yml"),
            "--out",
            str(tmp_path / "report"),
            "--json",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    report = json.loads(result.stdout)
    assert report["intent"]["accuracy"] > 0.9
