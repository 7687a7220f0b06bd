"""A remote Rasa server as the NLU backend (`nlu_backend: {type: rasa_http, ...}`).

Parses come from Rasa's `POST /model/parse` (body `{"text": ...}`, token as the `token` query
parameter, as Rasa's `--auth-token` expects). The answer is post-processed by the same entity
normalisers as the local pipeline, so the rest of taxdesk sees the same values.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from datetime import date
from typing import Any

from nlu.components.text import TextConverter
from nlu.config import BackendConfig
from nlu.errors import NluBackendUnavailable
from nlu.normalizers import normalize_entities

DEFAULT_KINDS = {
    "tax_period": "tax_period",
    "taxpayer_id": "taxpayer_id",
    "tax_type": "tax_type",
    "amount": "amount",
}


class RasaHttpBackend:
    """Client of a Rasa server's `/model/parse` with a timeout and typed errors."""

    def __init__(self, config: BackendConfig) -> None:
        self.config = config
        self._converter = TextConverter()
        self._session: Any = None

    @property
    def parse_url(self) -> str:
        """The endpoint URL, with the token as query parameter when configured."""
        url = f"{self.config.url}/model/parse"
        if self.config.token:
            url += "?" + urllib.parse.urlencode({"token": self.config.token})
        return url

    def _finish(self, text: str, answer: Any, today: date | None) -> dict[str, Any]:
        if not isinstance(answer, dict) or "intent" not in answer:
            raise NluBackendUnavailable(self.config.url, "回复不是 Rasa 的 parse 格式")
        entities = [dict(e) for e in answer.get("entities") or [] if isinstance(e, dict)]
        valid = [
            e
            for e in entities
            if isinstance(e.get("start"), int)
            and isinstance(e.get("end"), int)
            and 0 <= e["start"] < e["end"] <= len(text)
        ]
        misplaced = [e for e in entities if not any(e is v for v in valid)]
        normalize_entities(
            valid, self._converter.convert(text), today or date.today(), DEFAULT_KINDS
        )
        intent = answer.get("intent") or {}
        return {
            "text": text,
            "intent": {"name": intent.get("name"), "confidence": intent.get("confidence", 0.0)},
            "intent_ranking": answer.get("intent_ranking") or [],
            "entities": valid + misplaced,
        }

    def parse(self, text: str, today: date | None = None) -> dict[str, Any]:
        """Blocking parse (for the CLI and threads); never call it on the event loop."""
        body = json.dumps({"text": text}).encode("utf-8")
        request = urllib.request.Request(
            self.parse_url,
            data=body,
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.config.timeout) as response:
                answer = json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            raise NluBackendUnavailable(self.config.url, f"HTTP {exc.code}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise NluBackendUnavailable(self.config.url, f"连接失败 ({reason})") from None
        except ValueError:
            raise NluBackendUnavailable(self.config.url, "回复不是 JSON") from None
        return self._finish(text, answer, today)

    async def aparse(self, text: str, today: date | None = None) -> dict[str, Any]:
        """Non-blocking parse with aiohttp (one session reused; close with `aclose`)."""
        import aiohttp

        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.config.timeout)
            )
        try:
            async with self._session.post(self.parse_url, json={"text": text}) as response:
                if response.status != 200:
                    raise NluBackendUnavailable(self.config.url, f"HTTP {response.status}")
                answer = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise NluBackendUnavailable(
                self.config.url, f"连接失败 ({type(exc).__name__})"
            ) from None
        except ValueError:
            raise NluBackendUnavailable(self.config.url, "回复不是 JSON") from None
        return self._finish(text, answer, today)

    async def aclose(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None
