"""Each pipeline component on its own, and the trained fixture pipeline end to end."""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pytest

from nlu.components import get_component_class, registered_names
from nlu.components.classifiers import FallbackClassifier, NoveltyScaler, fit_temperature
from nlu.components.entities import CRFEntityExtractor, EntitySynonymMapper, _decode
from nlu.components.featurizers import CountVectorsFeaturizer, EntityFeaturizer
from nlu.components.text import JiebaTokenizer, OpenCCNormalizer, TextConverter
from nlu.config import load_config
from nlu.errors import ConfigError
from nlu.message import Message
from nlu.pipeline import Pipeline
from nlu.training_data import TrainingData
from testing.nlu import FIXTURE_CONFIG, fixture_data, train_fixture_pipeline

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
        "NoveltyScaler",
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


def _ranked(text: str, ranking: list[tuple[str, float]]) -> Message:
    message = Message(text)
    message.intent_ranking = [{"name": n, "confidence": c} for n, c in ranking]
    message.intent = dict(message.intent_ranking[0])
    return message


def test_novelty_scaler_coverage_and_scaling(tmp_path: Any) -> None:
    scaler = NoveltyScaler({"min_coverage": 0.2, "full_coverage": 0.6})
    training = [Message("我要开发票"), Message("税号 <id>"), Message("88")]
    training[1].entities = [{"entity": "taxpayer_id", "start": 3, "end": 7}]
    scaler.train(TrainingData(regexes={"taxpayer_id": []}), training)
    assert {"^我", "开发票", "号\ue000", "88$"} <= scaler.known  # spaces dropped, entity marked
    # the same words with spaces, another taxpayer id: fully covered, confidences unchanged
    known = _ranked("我要 开发票", [("request_invoice", 0.9), ("greet", 0.1)])
    other_id = _ranked("税号 91650100MA78ABCD1A", [("provide_info", 0.8), ("greet", 0.2)])
    other_id.entities = [{"entity": "taxpayer_id", "start": 3, "end": 21}]
    assert scaler.coverage(known) == scaler.coverage(other_id) == 1.0
    # digits are not folded: "42" is not "88"; nonsense shares no n-gram at all
    digits = _ranked("42", [("goodbye", 0.95), ("greet", 0.05)])
    nonsense = _ranked("蓝色的大象", [("greet", 0.8), ("thank", 0.2)])
    assert scaler.coverage(digits) == scaler.coverage(nonsense) == 0.0
    # partly known: 我要开 + unknown tail → coverage between the thresholds
    partial = _ranked("我要开车", [("request_invoice", 0.9), ("greet", 0.1)])
    coverage = scaler.coverage(partial)
    assert 0.2 < coverage < 0.6
    scaler.process([known, other_id, digits, nonsense, partial])
    assert known.intent == {"name": "request_invoice", "confidence": 0.9}
    assert other_id.intent["confidence"] == 0.8
    assert digits.intent == {"name": "goodbye", "confidence": 0.0}
    factor = (coverage - 0.2) / 0.4
    assert partial.intent["name"] == "request_invoice"  # the order never changes
    assert partial.intent["confidence"] == pytest.approx(0.9 * factor)
    assert partial.intent_ranking[1]["confidence"] == pytest.approx(0.1 * factor)
    FallbackClassifier({"threshold": 0.3}).process([known, nonsense])
    assert (known.intent["name"], nonsense.intent["name"]) == ("request_invoice", "nlu_fallback")
    assert nonsense.intent_ranking[1]["name"] == "greet"  # the classifier's ranking is kept
    scaler.persist(tmp_path)
    loaded = NoveltyScaler.load(scaler.config, tmp_path)
    assert loaded.known == scaler.known and loaded.placeholders == scaler.placeholders


def test_novelty_scaler_options() -> None:
    assert NoveltyScaler().factor(0.0) == 0.0 and NoveltyScaler().factor(1.0) == 1.0
    with pytest.raises(ConfigError, match="min_coverage"):
        NoveltyScaler({"min_coverage": 0.5, "full_coverage": 0.4})
    with pytest.raises(ConfigError, match="min_ngram"):
        NoveltyScaler({"min_ngram": 3, "max_ngram": 2})


def test_parse_shape(pipeline: Pipeline) -> None:
    result: dict[str, Any] = pipeline.parse("你好", TODAY)
    assert set(result) == {"text", "intent", "intent_ranking", "entities"}
    assert set(result["intent"]) == {"name", "confidence"}
    assert result["intent"]["name"] == "greet"


def test_crf_training_is_reproducible_within_one_process() -> None:
    data = fixture_data()

    def state_features() -> dict[tuple[str, str], float]:
        pipeline = train_fixture_pipeline()
        (crf,) = [c for c in pipeline.components if isinstance(c, CRFEntityExtractor)]
        return dict(crf.tagger.info().state_features)

    first = state_features()
    # another training in between moves the C library's random sequence along
    Pipeline.from_config(load_config(FIXTURE_CONFIG)).train(data.subset(data.examples[::-1]))
    assert state_features() == first
