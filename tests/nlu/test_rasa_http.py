"""The rasa_http backend against a local stub that answers like Rasa's `/model/parse`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from nlu import Interpreter
from nlu.errors import NluBackendUnavailable

TODAY = date(2026, 11, 27)


def rasa_answer(text: str) -> dict[str, Any]:
    start = text.find("9165")
    entities = []
    if start >= 0:
        entities.append(
            {
                "entity": "taxpayer_id",
                "start": start,
                "end": start + 18,
                "value": text[start : start + 18],
                "extractor": "RegexEntityExtractor",
            }
        )
    period = text.find("上個月")
    if period >= 0:
        entities.append(
            {
                "entity": "tax_period",
                "start": period,
                "end": period + 3,
                "value": "上個月",
                "extractor": "DIETClassifier",
                "confidence_entity": 0.99,
            }
        )
    return {
        "text": text,
        "intent": {"id": 1, "name": "provide_info", "confidence": 0.93},
        "entities": entities,
        "text_tokens": [[0, len(text)]],
        "intent_ranking": [
            {"id": 1, "name": "provide_info", "confidence": 0.93},
            {"id": 2, "name": "greet", "confidence": 0.07},
        ],
        "response_selector": {"all_retrieval_intents": []},
    }


@pytest.fixture
async def rasa_stub(unused_tcp_port: int) -> AsyncIterator[dict[str, Any]]:
    seen: dict[str, Any] = {"requests": [], "delay": 0.0}

    async def parse(request: web.Request) -> web.Response:
        body = await request.json()
        seen["requests"].append({"token": request.query.get("token"), "body": body})
        await asyncio.sleep(seen["delay"])
        if request.query.get("token") != "s3cret":
            return web.json_response({"status": "failure", "code": 401}, status=401)
        return web.json_response(rasa_answer(body["text"]))

    app = web.Application()
    app.router.add_post("/model/parse", parse)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", unused_tcp_port)
    await site.start()
    seen["url"] = f"http://127.0.0.1:{unused_tcp_port}"
    yield seen
    await runner.cleanup()


@pytest.fixture
def unused_tcp_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(tmp_path: Path, url: str, token: str = "s3cret", timeout: float = 2) -> Path:
    path = tmp_path / "config.yml"
    path.write_text(
        "language: zh\npipeline: []\n"
        f"nlu_backend:\n  type: rasa_http\n  url: {url}\n  token: {token}\n  timeout: {timeout}\n"
    )
    return path


async def test_aparse_uses_rasa_and_normalises(rasa_stub: dict[str, Any], tmp_path: Path) -> None:
    interpreter = Interpreter.load(
        tmp_path / "no-models", write_config(tmp_path, rasa_stub["url"])
    )
    assert interpreter.is_remote
    text = "上個月的 91650100MA78ABCD1B"
    try:
        result = await interpreter.aparse(text, TODAY)
    finally:
        await interpreter.aclose()
    assert rasa_stub["requests"][0] == {"token": "s3cret", "body": {"text": text}}
    assert result["intent"] == {"name": "provide_info", "confidence": 0.93}
    assert [r["name"] for r in result["intent_ranking"]] == ["provide_info", "greet"]
    by_type = {e["entity"]: e for e in result["entities"]}
    assert by_type["tax_period"]["value"] == "2026-10"
    assert by_type["taxpayer_id"]["invalid"] is True


async def test_sync_parse_in_thread(rasa_stub: dict[str, Any], tmp_path: Path) -> None:
    interpreter = Interpreter.load(None, write_config(tmp_path, rasa_stub["url"]))
    result = await asyncio.to_thread(interpreter.parse, "91650100MA78ABCD1A", TODAY)
    assert result["entities"][0]["value"] == "91650100MA78ABCD1A"
    assert "invalid" not in result["entities"][0]


async def test_wrong_token_is_a_clear_error(rasa_stub: dict[str, Any], tmp_path: Path) -> None:
    interpreter = Interpreter.load(None, write_config(tmp_path, rasa_stub["url"], token="bad"))
    with pytest.raises(NluBackendUnavailable, match="HTTP 401"):
        await interpreter.aparse("hi")
    await interpreter.aclose()


async def test_timeout(rasa_stub: dict[str, Any], tmp_path: Path) -> None:
    rasa_stub["delay"] = 1.0
    interpreter = Interpreter.load(None, write_config(tmp_path, rasa_stub["url"], timeout=0.2))
    with pytest.raises(NluBackendUnavailable, match="NLU 服务暂时不可用"):
        await interpreter.aparse("hi")
    await interpreter.aclose()
    with pytest.raises(NluBackendUnavailable):
        await asyncio.to_thread(interpreter.parse, "hi")


async def test_server_down(unused_tcp_port: int, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{unused_tcp_port}"
    interpreter = Interpreter.load(None, write_config(tmp_path, url))
    with pytest.raises(NluBackendUnavailable, match="连接失败"):
        await interpreter.aparse("hi")
    with pytest.raises(NluBackendUnavailable, match="连接失败"):
        interpreter.parse("hi")
    await interpreter.aclose()
