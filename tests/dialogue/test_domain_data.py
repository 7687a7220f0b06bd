"""The dialogue reads case types through `desk.case_types` (one loader, one validation):
invalid data names the file and the field, and Traditional replies use the data's own
Traditional titles rather than the converter's."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from actions.dispatcher import CollectingDispatcher
from actions.domain import Domain
from actions.engine import ScriptConverter
from desk.case_types import load_case_types
from desk.errors import CaseTypesError
from desk.runtime import DEFAULT_CASE_TYPES

ROOT = Path(__file__).resolve().parents[2]


def _data_copy(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    shutil.copytree(ROOT / "data", data, ignore=shutil.ignore_patterns("calendar"))
    return data


def test_domain_uses_the_desk_catalog() -> None:
    domain = Domain.load(ROOT / "data")
    catalog = load_case_types(DEFAULT_CASE_TYPES)
    assert list(domain.case_types) == [ct.key for ct in catalog]
    for ct in catalog:
        assert domain.case_types[ct.key] == ct  # same type, same values
        assert domain.case_type_for_intent(ct.intent) == ct


def test_invalid_case_types_name_the_file_and_field(tmp_path: Path) -> None:
    data = _data_copy(tmp_path)
    path = data / "case_types.yml"
    path.write_text(
        path.read_text(encoding="utf-8").replace("sla_working_days: 5", "sla_working_days: 0", 1),
        encoding="utf-8",
    )
    with pytest.raises(CaseTypesError) as err:
        Domain.load(data)
    assert err.value.path == str(path)
    assert err.value.field.endswith(".sla_working_days")
    assert str(path) in err.value.user_message and "sla_working_days" in err.value.user_message


def test_traditional_replies_keep_the_data_titles(tmp_path: Path) -> None:
    data = _data_copy(tmp_path)
    path = data / "case_types.yml"
    text = path.read_text(encoding="utf-8")
    assert "zh_hant: 登記信息變更" in text
    path.write_text(text.replace("zh_hant: 登記信息變更", "zh_hant: 登記資訊變更"), "utf-8")
    domain = Domain.load(data)
    title = domain.case_types["registration_change"].title
    scripts = ScriptConverter()
    assert scripts.to_traditional(title.zh_hans) != title.zh_hant  # OpenCC would differ
    hant = CollectingDispatcher(
        domain, rng=random.Random(0), script="hant", to_traditional=scripts.to_traditional
    )
    hant.utter_message("为您办理「{case_title}」。", case_title=title.zh_hans)
    assert hant.messages[0].text == "為您辦理「登記資訊變更」。"
    hans = CollectingDispatcher(domain, script="hans", to_traditional=scripts.to_traditional)
    hans.utter_message("为您办理「{case_title}」。", case_title=title.zh_hans)
    assert hans.messages[0].text == "为您办理「登记信息变更」。"
