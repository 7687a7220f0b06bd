"""`nlu.similarity.suggest`: the taxpayers' messages the studio offers as examples of an
intent — alike one of its examples, or given it some confidence by the model without being
its answer; never one the model already answers with it."""

from __future__ import annotations

from typing import Any

from nlu.similarity import suggest


def _parse(answers: dict[str, tuple[str, float, float]]) -> Any:
    def parse(text: str) -> dict[str, Any]:
        top, top_conf, parking = answers[text]
        ranking = [{"name": top, "confidence": top_conf}]
        if top != "faq_parking":
            ranking.append({"name": "faq_parking", "confidence": parking})
        return {"intent": {"name": top, "confidence": top_conf}, "intent_ranking": ranking}

    return parse


def test_alike_or_some_confidence_best_first_and_never_what_is_answered() -> None:
    texts = [
        "大厅门口能停车吗",  # holds 4 of the 7 bigrams of an example
        "车位紧张 有地方放车吗",  # nothing alike, but the model gives the intent 0.2
        "今天天气怎么样",  # neither
        "办事大厅停车场在哪",  # alike, but already answered with the intent
        "停车",  # one bigram in common only: not alike
    ]
    parse = _parse(
        {
            texts[0]: ("faq_location", 0.6, 0.01),
            texts[1]: ("nlu_fallback", 0.3, 0.2),
            texts[2]: ("out_of_scope", 0.9, 0.0),
            texts[3]: ("faq_parking", 0.8, 0.8),
            texts[4]: ("nlu_fallback", 0.3, 0.01),
        }
    )
    found = suggest("faq_parking", ["办事大厅能停车吗", "有停车场吗"], texts, parse)
    assert [(texts[s.index], s.now) for s in found] == [
        ("大厅门口能停车吗", "faq_location"),
        ("车位紧张 有地方放车吗", "nlu_fallback"),
    ]
    assert found[0].score > found[1].score
    without_model = suggest("faq_parking", ["办事大厅能停车吗"], texts)
    assert [texts[s.index] for s in without_model] == ["大厅门口能停车吗", "办事大厅停车场在哪"]
    assert len(suggest("faq_parking", ["办事大厅能停车吗"], texts * 10, limit=3)) == 3
