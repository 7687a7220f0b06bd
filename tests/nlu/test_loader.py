"""The Rasa-format loader: every construct, merging, skipping non-NLU files, broken files."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from nlu.errors import TrainingDataError
from nlu.training_data import load_training_data, parse_annotated, training_data_to_yaml

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "nlu"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def test_fixture_constructs_load_and_merge() -> None:
    data = load_training_data([FIXTURES])
    assert {"greet", "request_correction", "thank"} <= set(data.intents)
    assert data.synonyms["增值稅"] == "vat"
    assert data.synonyms["企业所得税"] == "cit"  # from the second file
    assert "taxpayer_id" in data.regexes
    assert "印花税" in data.lookups["tax_type"]
    thanks = [e.text for e in data.examples if e.intent == "thank"]
    assert thanks == ["谢谢", "多谢了", "感谢"]  # list-of-text form, with metadata
    assert len(data.files) == 2  # domain.yml and config.yml have no `nlu:` key


@pytest.mark.parametrize(
    ("annotated", "plain", "entity", "value", "span"),
    [
        ("改[2019年12月](tax_period)的", "改2019年12月的", "tax_period", "2019年12月", (1, 9)),
        ("[增值稅](tax_type:vat)", "增值稅", "tax_type", "vat", (0, 3)),
        (
            '交[增值稅]{"entity": "tax_type", "value": "vat"}',
            "交增值稅",
            "tax_type",
            "vat",
            (1, 4),
        ),
    ],
)
def test_annotation_forms(
    annotated: str, plain: str, entity: str, value: str, span: tuple[int, int]
) -> None:
    text, entities, problems = parse_annotated(annotated)
    assert problems == []
    assert text == plain
    assert [(e.entity, e.value, (e.start, e.end)) for e in entities] == [(entity, value, span)]
    assert text[span[0] : span[1]] == entities[0].text


def test_annotation_list_form_and_roles() -> None:
    text, entities, problems = parse_annotated(
        '从[北京][{"entity": "city", "role": "from"}, {"entity": "loc"}]出发'
    )
    assert problems == [] and text == "从北京出发"
    assert [(e.entity, e.role) for e in entities] == [("city", "from"), ("loc", None)]


def test_inline_values_become_synonyms(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "nlu.yml",
        """
        version: "3.1"
        nlu:
        - intent: provide_info
          examples: |
            - 是[個稅](tax_type:iit)
    """,
    )
    assert load_training_data([path]).synonyms["個稅"] == "iit"


def test_round_trip_yaml(tmp_path: Path) -> None:
    data = load_training_data([FIXTURES / "small.yml"])
    again = load_training_data([write(tmp_path, "x.yml", training_data_to_yaml(data.examples))])
    assert [(e.text, e.intent, [a.as_dict() for a in e.entities]) for e in again.examples] == [
        (e.text, e.intent, [a.as_dict() for a in e.entities]) for e in data.examples
    ]


BROKEN = [
    (
        "syntax",
        'version: "3.1"\nnlu:\n- intent: greet\n  examples: |\n    - hi\n  - bad: [\n',
        6,
        "YAML syntax error",
    ),
    (
        "unknown key",
        'version: "3.1"\nnlu:\n- intent: greet\n  exmples: |\n    - hi\n',
        4,
        "unknown key `exmples`",
    ),
    ("no examples", 'version: "3.1"\nnlu:\n- intent: greet\n', 3, "has no `examples`"),
    (
        "bad json",
        'version: "3.1"\nnlu:\n- intent: a\n  examples: |\n    - x\n    - [y]{"entity": }\n',
        6,
        "not valid JSON",
    ),
    (
        "bad regex",
        'version: "3.1"\nnlu:\n- regex: id\n  examples: |\n    - [0-9\n',
        5,
        "invalid pattern",
    ),
    (
        "malformed annotation",
        'version: "3.1"\nnlu:\n- intent: a\n  examples: |\n    - x\n\n    - [y](tax\n',
        7,
        "malformed entity annotation",
    ),
    (
        "no dash",
        'version: "3.1"\nnlu:\n- intent: a\n  examples: |\n    - x\n    y\n',
        6,
        "must start with '- '",
    ),
    ("version", "version: 3.1\nnlu:\n- intent: a\n  examples: |\n    - x\n", 1, "version"),
    ("two kinds", "nlu:\n- intent: a\n  synonym: b\n  examples: |\n    - x\n", 2, "exactly one"),
    ("nlu not list", 'version: "3.1"\nnlu: hello\n', 2, "must be a list"),
]


@pytest.mark.parametrize(("case", "text", "line", "problem"), BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_files_name_file_line_problem(
    tmp_path: Path, case: str, text: str, line: int, problem: str
) -> None:
    path = tmp_path / "broken.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TrainingDataError) as info:
        load_training_data([path])
    located = [(p.file, p.line) for p in info.value.problems]
    assert (path, line) in located, info.value.problems
    assert problem in str(info.value)
    assert f"{path}:{line}:" in str(info.value)


def test_every_problem_is_reported(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "nlu.yml",
        """
        version: "3.1"
        nlu:
        - intent: a
          exmples: |
            - x
        - regex: r
          examples: |
            - (
    """,
    )
    with pytest.raises(TrainingDataError) as info:
        load_training_data([path])
    assert len(info.value.problems) >= 3


def test_non_nlu_and_broken_non_nlu_files_are_skipped(tmp_path: Path) -> None:
    write(tmp_path, "nlu.yml", 'version: "3.1"\nnlu:\n- intent: a\n  examples: |\n    - x\n')
    write(tmp_path, "case_types.yml", "case_types:\n  - name: x\n")
    write(tmp_path, "rules.yml", "rules: [\n")  # broken, but not NLU data
    data = load_training_data([tmp_path])
    assert [e.text for e in data.examples] == ["x"]


def test_empty_data_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "domain.yml", "intents: [greet]\n")
    with pytest.raises(TrainingDataError, match="no NLU examples"):
        load_training_data([tmp_path])


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TrainingDataError, match="file not found"):
        load_training_data([tmp_path / "nope.yml"])
