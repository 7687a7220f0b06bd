"""The studio's edits of the Rasa YAML: one line changed, comments kept, the result loads;
refusals leave the files as they were; conflicts and review groups."""

from __future__ import annotations

from pathlib import Path

import pytest

from nlu import data_edit
from nlu.data_edit import DataEditError
from nlu.similarity import conflicts, group_similar
from nlu.training_data import load_training_data

DATA = """version: "3.1"
# a comment the studio keeps
nlu:
- intent: greet
  examples: |
    - 你好
    - 您好
- intent: refund  # another comment
  examples: |
    - 我要退税[3000元](amount)
    - 多交的税能退吗
"""


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    (tmp_path / "nlu.yml").write_text(DATA, encoding="utf-8")
    (tmp_path / "rules.yml").write_text("rules:\n- rule: r\n  steps: [{intent: greet}]\n")
    return tmp_path


def test_add_edit_delete_keep_the_rest_of_the_file(data_dir: Path) -> None:
    data_edit.add_example(data_dir, "refund", "退[500元](amount)可以吗")
    text = (data_dir / "nlu.yml").read_text()
    assert "# a comment the studio keeps" in text and "# another comment" in text
    assert text.splitlines()[11] == "    - 退[500元](amount)可以吗"
    data_edit.edit_example(data_dir, "refund", "多交的税能退吗", "多缴的税能退吗")
    data_edit.delete_example(data_dir, "greet", "您好")
    loaded = load_training_data([data_dir])
    assert [(e.intent, e.text) for e in loaded.examples] == [
        ("greet", "你好"),
        ("refund", "我要退税3000元"),
        ("refund", "多缴的税能退吗"),
        ("refund", "退500元可以吗"),
    ]
    assert loaded.examples[3].entities[0].text == "500元"


def test_new_intents_go_to_the_studio_file_and_rename(data_dir: Path) -> None:
    path = data_edit.add_example(data_dir, "ask_parking", "停车场在哪里")
    assert path.name == data_edit.STUDIO_FILE
    data_edit.add_example(data_dir, "ask_parking", "能停车吗")
    data_edit.rename_intent(data_dir, "ask_parking", "ask_car_park")
    intents = load_training_data([data_dir]).intents
    assert intents == ["ask_car_park", "greet", "refund"]


FAQ = """version: 1
# answers keyed by intent
faq:
  ask_parking:  # the office's car park
    - text: 地下停车场免费。
  ask_parking_fee:
    - text: 不收费。
"""


def test_a_rename_moves_the_intents_faq_answers(data_dir: Path) -> None:
    (data_dir / "faq.yml").write_text(FAQ, encoding="utf-8")
    data_edit.add_example(data_dir, "ask_parking", "能停车吗")
    written = data_edit.rename_intent(data_dir, "ask_parking", "ask_car_park")
    assert [p.name for p in written] == [data_edit.STUDIO_FILE, "faq.yml"]
    assert (data_dir / "faq.yml").read_text() == FAQ.replace(
        "  ask_parking:  #", "  ask_car_park:  #"
    )  # that key only: not ask_parking_fee, the comments kept
    # an answer already under the new name: refused, nothing written
    data_edit.add_example(data_dir, "ask_toilet", "厕所在哪")
    with pytest.raises(DataEditError, match="ask_parking_fee"):
        data_edit.rename_intent(data_dir, "ask_toilet", "ask_parking_fee")
    assert "ask_toilet" in load_training_data([data_dir]).intents


def test_refusals_write_nothing(data_dir: Path) -> None:
    before = (data_dir / "nlu.yml").read_text()
    for call in (
        lambda: data_edit.add_example(data_dir, "greet", "你好"),  # already there
        lambda: data_edit.add_example(data_dir, "greet", "退[500元](amount"),
        lambda: data_edit.add_example(data_dir, "greet", "两行\n文字"),
        lambda: data_edit.add_example(data_dir, "坏名字", "文字"),
        lambda: data_edit.rename_intent(data_dir, "greet", "hello"),  # rules.yml names it
        lambda: data_edit.rename_intent(data_dir, "refund", "greet"),  # exists
        lambda: data_edit.delete_example(data_dir, "greet", "不存在"),
    ):
        with pytest.raises(DataEditError):
            call()
    assert (data_dir / "nlu.yml").read_text() == before


def test_conflicts_and_review_groups(data_dir: Path) -> None:
    data_edit.add_example(data_dir, "refund", "你好")  # the same text under two intents
    data_edit.add_example(data_dir, "refund", "请问多交的增值税能不能退给我们公司")
    data_edit.add_example(data_dir, "greet", "请问多交的增值税能不能退给我们公司呢")
    found = conflicts(load_training_data([data_dir]).examples)
    pairs = {(c.text, c.other_text, c.same) for c in found}
    assert ("你好", "你好", True) in pairs
    assert any(not c.same and {c.intent, c.other_intent} == {"greet", "refund"} for c in found)
    groups = group_similar(["停车场在哪里", "今天天气", "停车场在哪里啊", "今天天气好"])
    assert groups == [[0, 2], [1, 3]]
