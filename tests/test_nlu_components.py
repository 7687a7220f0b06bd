"""Each pipeline component on its own, and the trained fixture pipeline end to end."""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pytest

from nlu.components import get_component_class, registered_names
from nlu.components.classifiers import FallbackClassifier, fit_temperature
from nlu.components.entities import CRFEntityExtractor, EntitySynonymMapper, _decode
from nlu.components.featurizers import CountVectorsFeaturizer, EntityFeaturizer
from nlu.components.text import JiebaTokenizer, OpenCCNormalizer, TextConverter
from nlu.errors import ConfigError
from nlu.message import Message
from nlu.pipeline import Pipeline
from nlu.training_data import TrainingData

from .nlu_helpers import fixture_data, train_fixture_pipeline

TODAY = date(2026, 11, 27)


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return train_fixture_pipeline()


def test_registry_has_every_component_with_one_interface() -> None:
    names = set(registered_names())
    assert {
        "OpenCCNormalizer",
        "JiebaTokenizer",
        "CountVectorsFeaturizer",
        "SklearnIntentClassifier",
        "RegexEntityExtractor",
        "CRFEntityExtractor",
        "EntitySynonymMapper",
        "TaxEntityNormalizer",
        "FallbackClassifier",
    } <= names
    for name in names:
        cls = get_component_class(name)
        assert isinstance(cls.get_default_config(), dict)
        for method in ("train", "process", "persist", "load"):
            assert callable(getattr(cls, method))


def test_unknown_component_and_option() -> None:
    with pytest.raises(ConfigError, match="unknown component `Nope`"):
        get_component_class("Nope")
    with pytest.raises(ConfigError, match="unknown option"):
        FallbackClassifier({"treshold": 0.5})


def test_opencc_is_length_preserving() -> None:
    converter = TextConverter()
    for text in ["更正所屬期為2019年12月的增值稅申報表", "ＶＡＴ　１２３", "乾隆皇帝頭髮"]:
        out = converter.convert(text)
        assert len(out) == len(text)
    assert converter.convert("增值稅") == "增值税"
    assert converter.convert("ＶＡＴ　１２３") == "VAT 123"
    message = Message("申報表")
    OpenCCNormalizer().process([message])
    assert message.norm == "申报表" and message.text == "申報表"


def test_jieba_tokenizer_adds_domain_words_and_offsets() -> None:
    data = TrainingData(lookups={"tax_type": ["城镇土地使用税"]})
    tokenizer = JiebaTokenizer({"dictionary_size": 20000})
    tokenizer.train(data, [])
    message = Message("要交城鎮土地使用稅嗎")
    OpenCCNormalizer().process([message])
    tokenizer.process([message])
    assert ("城镇土地使用税", 2, 9) in message.tokens
    for word, start, end in message.tokens:
        assert message.norm.lower()[start:end] == word


def test_featurizer_placeholders_and_pinyin() -> None:
    pinyin = CountVectorsFeaturizer({"analyzer": "pinyin", "min_ngram": 1, "max_ngram": 1})
    pinyin.pinyin = {"蟹": "xie", "谢": "xie"}
    a, b = Message("蟹蟹"), Message("谢谢")
    assert pinyin._ngrams(a) == pinyin._ngrams(b) == ["^", "xie", "xie", "$"]
    char = CountVectorsFeaturizer({"analyzer": "char", "max_ngram": 1})
    char.placeholders = {"taxpayer_id": "\ue000"}
    message = Message("号91650100MA78ABCD1A")
    message.entities = [{"entity": "taxpayer_id", "start": 1, "end": 19}]
    assert char._ngrams(message) == ["^", "号", "\ue000", "$"]
    digits = Message("12366")
    assert char._ngrams(digits) == ["^", "0", "0", "0", "0", "0", "$"]


def test_entity_featurizer() -> None:
    featurizer = EntityFeaturizer({"weight": 0.5})
    featurizer.train(TrainingData(lookups={"tax_type": []}, regexes={"amount": []}), [])
    message = Message("x")
    message.entities = [{"entity": "tax_type"}, {"entity": "tax_type"}, {"entity": "other"}]
    featurizer.process([message])
    assert message.sparse == [("EntityFeaturizer", [1], [0.5], 2)]


def test_featurizer_vectors_are_normalised(pipeline: Pipeline) -> None:
    message = Message("我要更正增值税申报")
    pipeline.components[0].process([message])
    pipeline.components[1].process([message])
    featurizers = [c for c in pipeline.components if isinstance(c, CountVectorsFeaturizer)]
    message.entities = []
    for featurizer in featurizers:
        featurizer.process([message])
    assert len(message.sparse) == len(featurizers)
    for _, idx, values, dim in message.sparse:
        assert len(idx) == len(values) > 0 and max(idx) < dim
        assert np.isclose(np.linalg.norm(values), 1.0)


def test_classifier_ranking_is_sorted_and_calibrated(pipeline: Pipeline) -> None:
    result = pipeline.parse("我要更正2019年12月的增值税申报表", TODAY)
    ranking = result["intent_ranking"]
    confidences = [r["confidence"] for r in ranking]
    assert confidences == sorted(confidences, reverse=True)
    assert result["intent"]["name"] == "request_correction"
    assert sum(confidences) <= 1.0 + 1e-9


def test_fit_temperature_prefers_softer_scores_for_noisy_labels() -> None:
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(400, 3)) * 5
    clean = scores.argmax(axis=1)
    noisy = np.where(rng.random(400) < 0.4, rng.integers(0, 3, 400), clean)
    assert fit_temperature(scores, noisy) > fit_temperature(scores, clean)


def test_regex_and_lookup_extraction_on_traditional_text(pipeline: Pipeline) -> None:
    text = "統一社會信用代碼91650100MA78ABCD1A，個稅和增值稅"
    result = pipeline.parse(text, TODAY)
    by_type = {e["entity"]: e for e in result["entities"]}
    tp = by_type["taxpayer_id"]
    assert text[tp["start"] : tp["end"]] == "91650100MA78ABCD1A"
    assert tp["extractor"] == "RegexEntityExtractor"
    values = sorted(e["value"] for e in result["entities"] if e["entity"] == "tax_type")
    assert values == ["iit", "vat"]


def test_invalid_taxpayer_id_is_kept_with_reason(pipeline: Pipeline) -> None:
    result = pipeline.parse("统一社会信用代码91650100MA78ABCD1B", TODAY)
    (entity,) = [e for e in result["entities"] if e["entity"] == "taxpayer_id"]
    assert entity["invalid"] is True and entity["reason"]
    ok = pipeline.parse("统一社会信用代码91650100MA78ABCD1A", TODAY)
    (good,) = [e for e in ok["entities"] if e["entity"] == "taxpayer_id"]
    assert good["value"] == "91650100MA78ABCD1A" and "invalid" not in good


def test_crf_learns_spans_without_regex() -> None:
    data = fixture_data()
    pipeline = train_fixture_pipeline()
    crf = next(c for c in pipeline.components if isinstance(c, CRFEntityExtractor))
    assert crf.tagger is not None
    messages = [Message(ex.text, gold=ex) for ex in data.examples]
    assert crf.bio_tags(messages[0]) == ["O"] * len(messages[0].text)
    result = pipeline.parse("我要更正2020年第一季度的申报", TODAY)
    periods = [e for e in result["entities"] if e["entity"] == "tax_period"]
    assert [(e["start"], e["end"], e["value"]) for e in periods] == [(4, 13, "2020-Q1")]
    assert periods[0]["extractor"] == "CRFEntityExtractor"
    assert 0 < periods[0]["confidence"] <= 1


def test_bio_decoding() -> None:
    assert _decode(["O", "B-a", "I-a", "O", "I-b", "B-a", "B-a"]) == [
        (1, 3, "a"),
        (4, 5, "b"),
        (5, 6, "a"),
        (6, 7, "a"),
    ]


def test_relative_period_uses_parse_date(pipeline: Pipeline) -> None:
    result = pipeline.parse("更正一下上个月的个税申报", TODAY)
    (period,) = [e for e in result["entities"] if e["entity"] == "tax_period"]
    assert period["value"] == "2026-10"
    later = pipeline.parse("更正一下上个月的个税申报", date(2027, 1, 5))
    assert [e["value"] for e in later["entities"] if e["entity"] == "tax_period"] == ["2026-12"]


def test_synonym_mapper() -> None:
    mapper = EntitySynonymMapper()
    mapper.train(TrainingData(synonyms={"增值稅": "vat"}), [])
    message = Message("x")
    message.entities = [{"entity": "tax_type", "value": "增值税", "start": 0, "end": 1}]
    mapper.process([message])
    assert message.entities[0]["value"] == "vat"
    assert message.entities[0]["processors"] == ["EntitySynonymMapper"]


@pytest.mark.parametrize(
    ("ranking", "expected"),
    [
        ([0.9, 0.05], "a"),
        ([0.2, 0.1], "nlu_fallback"),  # below threshold
        ([0.45, 0.44], "nlu_fallback"),  # ambiguous
    ],
)
def test_fallback(ranking: list[float], expected: str) -> None:
    message = Message("x")
    message.intent_ranking = [
        {"name": n, "confidence": c} for n, c in zip("ab", ranking, strict=True)
    ]
    message.intent = dict(message.intent_ranking[0])
    FallbackClassifier({"threshold": 0.3, "ambiguity_threshold": 0.05}).process([message])
    assert message.intent["name"] == expected
    names = [r["name"] for r in message.intent_ranking]
    assert ("nlu_fallback" in names) == (expected == "nlu_fallback")


def test_parse_shape(pipeline: Pipeline) -> None:
    result: dict[str, Any] = pipeline.parse("你好", TODAY)
    assert set(result) == {"text", "intent", "intent_ranking", "entities"}
    assert set(result["intent"]) == {"name", "confidence"}
    assert result["intent"]["name"] == "greet"
