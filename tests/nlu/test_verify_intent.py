"""The trained NLU (the session model) knows "I want to verify / 绑定" from messages not in the
training data, in both scripts, without taking status questions or case requests for it."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

pytestmark = pytest.mark.slow

TODAY = date(2026, 11, 27)


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("我想把我们单位绑定一下", "verify"),
        ("我是会计 怎么绑定公司", "verify"),
        ("我想綁定我們單位", "verify"),
        ("我的业务办得怎么样了", "check_status"),
        ("我要开完税证明", "request_tax_certificate"),
    ],
)
def test_verify_and_its_neighbours(interpreter: Any, text: str, intent: str) -> None:
    import opencc

    simplified = opencc.OpenCC("t2s").convert(text)  # the engine converts before the NLU
    assert interpreter.parse(simplified, TODAY)["intent"]["name"] == intent
