"""Writing training data back as Rasa YAML (issue 11: the studio writes admins' edits to data/):
loading what was written gives the same data, `load(write(load(x))) == load(x)`."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nlu.training_data import (
    EntityAnnotation,
    Example,
    TrainingData,
    UnwritableDataError,
    annotate,
    load_training_data,
    parse_training_text,
    write_rasa_yaml,
    write_training_file,
)

ROOT = Path(__file__).resolve().parents[2]


def _reload(data: TrainingData) -> TrainingData:
    loaded, problems = parse_training_text(write_rasa_yaml(data), Path("written.yml"))
    assert not problems and loaded is not None
    return loaded


@pytest.mark.parametrize(
    "path", [ROOT / "data", ROOT / "tests" / "fixtures" / "nlu", ROOT / "tests" / "fixtures"]
)
def test_project_data_round_trips(path: Path) -> None:
    data = load_training_data([path])
    again = _reload(data)
    assert again.content() == data.content()
    assert again.canonical() == data.canonical()  # so the model fingerprint is the same too


def test_file_is_written_atomically_and_loads(tmp_path: Path) -> None:
    data = load_training_data([ROOT / "tests" / "fixtures" / "nlu"])
    target = tmp_path / "nlu.yml"
    target.write_text("old", encoding="utf-8")
    write_training_file(data, target)
    assert load_training_data([target]).content() == data.content()
    assert [p.name for p in tmp_path.iterdir()] == ["nlu.yml"]


def test_annotation_forms() -> None:
    text = "我要更正2019年12月增值税"
    period = EntityAnnotation("tax_period", 4, 12, "2019年12月", "2019年12月")
    vat = EntityAnnotation("tax_type", 12, 15, "增值税", "vat", explicit_value=True)
    assert annotate(Example(text, "x", [period, vat])) == (
        '我要更正[2019年12月](tax_period)[增值税]{"entity": "tax_type", "value": "vat"}'
    )
    role = EntityAnnotation("city", 0, 2, "北京", "北京", role="from", group="1")
    other = EntityAnnotation("place", 0, 2, "北京", "北京")
    written = annotate(Example("北京出发", "x", [role, other]))
    assert written == (
        '[北京][{"entity": "city", "role": "from", "group": "1"}, {"entity": "place"}]出发'
    )
    data = TrainingData(
        examples=[
            Example(text, "request_correction", [period, vat]),
            Example("北京出发", "travel", [role, other]),
        ],
        synonyms={"增值税": "vat"},
    )
    again = _reload(data)
    assert again.content() == data.content()
    assert again.examples[1].entities == [role, other]


def test_order_synonyms_regexes_lookups_and_odd_texts() -> None:
    data = TrainingData(
        examples=[
            Example("你好", "greet"),
            Example("第一行\n第二行", "two lines: odd name"),
            Example("#不是注释 - 也不是列表", "greet"),
            Example('他说"好"', "greet"),
        ],
        synonyms={"个税": "iit", "个人所得税": "iit", "增值税": "vat"},
        regexes={"taxpayer_id": [r"\b[0-9A-HJ-NPQRTUWXY]{18}\b", r"\d{15}"]},
        lookups={"city": ["北京", "上海"], "tax_office": ["海淀区税务局"]},
    )
    text = write_rasa_yaml(data)
    assert text.count("- intent: greet") == 2  # a new block where the intent changes: order kept
    again = _reload(data)
    assert again.content() == data.content()


def test_unwritable_data_is_refused_with_the_example() -> None:
    overlapping = Example(
        "北京市",
        "x",
        [
            EntityAnnotation("city", 0, 2, "北京", "北京"),
            EntityAnnotation("place", 1, 3, "京市", "京市"),
        ],
    )
    with pytest.raises(UnwritableDataError, match="北京市"):
        write_rasa_yaml(TrainingData(examples=[overlapping]))
    # a literal bracket right before an annotated span would be read as part of it
    bracket = Example("a[b北京", "x", [EntityAnnotation("city", 3, 5, "北京", "北京")])
    with pytest.raises(UnwritableDataError, match="无法写成"):
        write_rasa_yaml(TrainingData(examples=[bracket]))


# ------------------------------------------------------------------------------- properties

SAFE = "增值税发票退税更正个人所得税北京我要怎么办吗了的 0123456789abcXYZ,.?!，。？！、·—《》"
ODD = SAFE + "[](){}:#-|'\"\\*&%@`~<>="
NAMES = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True)


@st.composite
def examples(draw: st.DrawFn, alphabet: str) -> Example:
    text = draw(st.text(alphabet, min_size=1, max_size=20).map(str.strip).filter(bool))
    cuts = sorted(draw(st.sets(st.integers(0, len(text)), max_size=4)))
    entities = []
    for start, end in zip(cuts[::2], cuts[1::2], strict=False):
        if start == end:
            continue
        explicit = draw(st.booleans())
        value = draw(st.text(SAFE, min_size=1, max_size=6)) if explicit else text[start:end]
        entities.append(
            EntityAnnotation(
                entity=draw(NAMES),
                start=start,
                end=end,
                text=text[start:end],
                value=value,
                explicit_value=explicit,
                role=draw(st.none() | NAMES),
            )
        )
    intent = draw(NAMES | st.text(SAFE, min_size=1, max_size=8).map(str.strip))
    return Example(text, intent, entities)


@st.composite
def training_data(draw: st.DrawFn, alphabet: str) -> TrainingData:
    items = draw(st.lists(examples(alphabet), min_size=1, max_size=8))
    items = [e for e in items if e.intent]
    data = TrainingData(examples=items or [Example("你好", "greet")])
    for ex in data.examples:  # what loading the annotations would add
        for ent in ex.entities:
            if ent.explicit_value and ent.value != ent.text:
                data.synonyms[ent.text.lower()] = ent.value
    words = st.text(SAFE, min_size=1, max_size=6).map(str.strip).filter(bool)
    for key, value in draw(st.dictionaries(words.map(str.lower), words, max_size=3)).items():
        data.synonyms[key] = value
    data.regexes = draw(
        st.dictionaries(
            NAMES, st.lists(st.sampled_from([r"\d+", "[A-Z]{2}", "a|b"]), min_size=1), max_size=2
        )
    )
    data.lookups = draw(
        st.dictionaries(NAMES, st.lists(words, min_size=1, max_size=3), max_size=2)
    )
    return data


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(training_data(SAFE))
def test_round_trip_property(data: TrainingData) -> None:
    assert _reload(data).content() == data.content()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(training_data(ODD))
def test_round_trip_or_refusal_with_brackets(data: TrainingData) -> None:
    try:
        text = write_rasa_yaml(data)
    except UnwritableDataError:
        return
    loaded, problems = parse_training_text(text, Path("written.yml"))
    assert not problems and loaded is not None
    assert loaded.content() == data.content()


def test_examples_alone_write_and_load_with_their_implied_synonyms() -> None:
    vat = EntityAnnotation("tax_type", 0, 3, "增值税", "vat", explicit_value=True)
    data = TrainingData(examples=[Example("增值税怎么报", "ask_policy", [vat])])
    again = _reload(data)
    assert again.examples == [
        Example("增值税怎么报", "ask_policy", [vat], again.examples[0].source)
    ]
    assert again.synonyms == {"增值税": "vat"}
