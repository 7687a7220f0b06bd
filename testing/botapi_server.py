"""A local Telegram Bot API server for tests (aiohttp), with a test-side API to act as users.

It implements what taxdesk's bot uses, with the real server's rules where they matter:
long polling with `offset`/`timeout`, webhooks (POSTed with `X-Telegram-Bot-Api-Secret-Token`,
retried until the bot answers 200), the 4,096-character message limit, the 20 MB download
limit of the official server (lifted in "local mode", where `getFile` returns an absolute
path as the self-hosted server started with `--local` does), JSON, form and multipart bodies.

Use it from a test::

    server = BotAPIServer()
    await server.start()                      # binds 127.0.0.1 on a free port
    bot = Bot(server.token, session=AiohttpSession(api=server.api_server()))
    server.user_sends_text(42, "你好")
    sent = await server.wait_for_messages(42, 1, timeout=5)
    await server.close()

Faults for retry tests: `server.fail_next("sendMessage", 2, status=429, retry_after=1)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import secrets
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiogram.client.telegram import TelegramAPIServer
from aiohttp import BodyPartReader, ClientError, ClientSession, ClientTimeout, web

MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024
OFFICIAL_DOWNLOAD_LIMIT = 20 * 1024 * 1024
LOCAL_DOWNLOAD_LIMIT = 2000 * 1024 * 1024

# Fields sent as JSON-serialised strings in form/multipart bodies.
_JSON_FIELDS = {
    "reply_markup",
    "allowed_updates",
    "commands",
    "scope",
    "entities",
    "caption_entities",
    "link_preview_options",
    "reply_parameters",
    "media",
    "message_ids",
}
_BOOL_FIELDS = {
    "drop_pending_updates",
    "show_alert",
    "disable_notification",
    "protect_content",
    "disable_content_type_detection",
    "has_spoiler",
}
_INT_FIELDS = {
    "offset",
    "limit",
    "timeout",
    "message_id",
    "max_connections",
    "cache_time",
    "reply_to_message_id",
    "message_thread_id",
    "from_chat_id",
    "icon_color",
}


class ApiError(Exception):
    """An error answered to the bot as `{"ok": false, ...}`."""

    def __init__(
        self, status: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


@dataclass
class Fault:
    """An injected failure for the next calls of one method."""

    remaining: int
    status: int
    description: str
    retry_after: int | None


@dataclass
class StoredFile:
    """A file known to the server (sent by a user or uploaded by the bot)."""

    file_id: str
    file_unique_id: str
    data: bytes
    file_path: str
    local_path: Path | None = None


@dataclass
class SentMessage:
    """A message the bot sent, as the server keeps it."""

    method: str
    message: dict[str, Any]
    params: dict[str, Any]
    deleted: bool = False
    edits: list[dict[str, Any]] = field(default_factory=list)
    sent_at: float = field(default_factory=time.monotonic)

    @property
    def message_id(self) -> int:
        return int(self.message["message_id"])

    @property
    def text(self) -> str | None:
        return self.message.get("text") or self.message.get("caption")

    @property
    def reply_markup(self) -> dict[str, Any] | None:
        return self.message.get("reply_markup")

    def button_data(self) -> list[str]:
        """The `callback_data` of every inline button, row by row."""
        markup = self.reply_markup or {}
        return [
            b["callback_data"]
            for row in markup.get("inline_keyboard", [])
            for b in row
            if "callback_data" in b
        ]


class BotAPIServer:
    """A Bot API server for one bot, bound to 127.0.0.1 on a free port."""

    def __init__(
        self,
        token: str = "123456:TEST-token",
        *,
        local_mode: bool = False,
        download_limit: int | None = None,
        webhook_retry_delay: float = 0.1,
        max_long_poll: float = 5.0,
    ) -> None:
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.local_mode = local_mode
        self.download_limit = download_limit or (
            LOCAL_DOWNLOAD_LIMIT if local_mode else OFFICIAL_DOWNLOAD_LIMIT
        )
        self.webhook_retry_delay = webhook_retry_delay
        self.max_long_poll = max_long_poll
        self.url = ""
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.chat_actions: list[tuple[int, str]] = []
        self.answered_callbacks: list[dict[str, Any]] = []
        self.downloads: list[str] = []
        self.webhook_deliveries: list[tuple[int, int]] = []  # (update_id, http status)
        self.commands: dict[str, list[dict[str, Any]]] = {}
        self.files: dict[str, StoredFile] = {}
        self._files_by_path: dict[str, StoredFile] = {}
        self._queue: list[dict[str, Any]] = []  # {"update": ..., "delivered": bool}
        self._update_ids = itertools.count(1000)
        self._message_ids: dict[int, itertools.count[int]] = defaultdict(
            lambda: itertools.count(1)
        )
        self._sent: dict[int, list[SentMessage]] = defaultdict(list)
        self._user_messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._chats: dict[int, dict[str, Any]] = {}
        self._faults: dict[str, Fault] = {}
        # forum topics: chat id -> thread id -> {"name", "closed", "deleted"}
        self.topics: dict[int, dict[int, dict[str, Any]]] = defaultdict(dict)
        self.pinned: list[tuple[int, int]] = []  # (chat id, message id)
        # the reply keyboard each chat shows now (`keyboard`), until `remove_keyboard`
        self.reply_keyboards: dict[int, dict[str, Any]] = {}
        self._topic_limit: tuple[int, int] | None = None
        self._new_update = asyncio.Event()
        self._new_message = asyncio.Event()
        self._webhook: dict[str, Any] | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self._webhook_error: tuple[int, str] | None = None
        self._runner: web.AppRunner | None = None
        self._closing = False
        self._tmp = tempfile.TemporaryDirectory(prefix="botapi-")
        self._methods: dict[str, Callable[[dict[str, Any]], Any]] = {
            "getme": self._get_me,
            "getupdates": self._get_updates,
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "sendmessage": self._send_message,
            "sendphoto": self._send_photo,
            "senddocument": self._send_document,
            "sendchataction": self._send_chat_action,
            "getfile": self._get_file,
            "editmessagetext": self._edit_message_text,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "answercallbackquery": self._answer_callback_query,
            "setmycommands": self._set_my_commands,
            "getmycommands": self._get_my_commands,
            "deletemycommands": self._delete_my_commands,
            "deletemessage": self._delete_message,
            "createforumtopic": self._create_forum_topic,
            "editforumtopic": self._edit_forum_topic,
            "closeforumtopic": self._close_forum_topic,
            "reopenforumtopic": self._reopen_forum_topic,
            "deleteforumtopic": self._delete_forum_topic,
            "pinchatmessage": self._pin_chat_message,
            "copymessage": self._copy_message,
            "copymessages": self._copy_messages,
            "close": self._close_method,
            "logout": self._close_method,
        }

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> str:
        """Start listening on 127.0.0.1 (free port); returns the base URL."""
        app = web.Application(client_max_size=LOCAL_DOWNLOAD_LIMIT)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def close(self) -> None:
        """Stop the webhook sender and the HTTP server; remove local-mode files."""
        await self._stop_webhook_task()
        self._closing = True
        self._new_update.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._tmp.cleanup()

    def api_server(self) -> TelegramAPIServer:
        """aiogram's server description for this instance (`is_local` in local mode)."""
        return TelegramAPIServer.from_base(self.url, is_local=self.local_mode)

    # ------------------------------------------------------------------ test-side API: users

    def user_sends_text(
        self,
        chat_id: int,
        text: str,
        *,
        user: dict[str, Any] | None = None,
        language_code: str = "zh-hans",
        thread_id: int | None = None,
        reply_to: int | None = None,
    ) -> dict[str, Any]:
        """The user writes `text` in `chat_id` (in forum topic `thread_id`, as a reply to
        message `reply_to`); returns the queued update."""
        message = self._user_message(chat_id, user, language_code, thread_id=thread_id)
        message["text"] = text
        if reply_to is not None:
            message["reply_to_message"] = copy.deepcopy(self._any_message(chat_id, reply_to))
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return self.push_update({"message": message})

    def user_sends_contact(
        self,
        chat_id: int,
        phone_number: str,
        *,
        contact_user_id: int | None = None,
        first_name: str = "联系人",
        own: bool = True,
        language_code: str = "zh-hans",
    ) -> dict[str, Any]:
        """The user shares a contact card: with `own` (the contact button) the card is the
        user's own (`user_id` = the sender's id); otherwise `contact_user_id` (a forwarded
        card of someone else, None when not a Telegram user)."""
        message = self._user_message(chat_id, None, language_code)
        contact: dict[str, Any] = {"phone_number": phone_number, "first_name": first_name}
        owner = message["from"]["id"] if own else contact_user_id
        if owner is not None:
            contact["user_id"] = owner
        message["contact"] = contact
        return self.push_update({"message": message})

    def user_sends_photo(
        self,
        chat_id: int,
        data: bytes,
        caption: str | None = None,
        media_group_id: str | None = None,
        *,
        user: dict[str, Any] | None = None,
        width: int = 1280,
        height: int = 960,
        thread_id: int | None = None,
    ) -> dict[str, Any]:
        """The user sends a photo (Telegram gives a small and a full size)."""
        message = self._photo_message(
            chat_id, data, caption, media_group_id, user, width, height, thread_id
        )
        return self.push_update({"message": message})

    def user_sends_document(
        self,
        chat_id: int,
        data: bytes,
        filename: str,
        mime: str,
        caption: str | None = None,
        media_group_id: str | None = None,
        *,
        user: dict[str, Any] | None = None,
        thread_id: int | None = None,
    ) -> dict[str, Any]:
        """The user sends a file as a document."""
        message = self._document_message(
            chat_id, data, filename, mime, caption, media_group_id, user, thread_id
        )
        return self.push_update({"message": message})

    def user_sends_album(
        self,
        chat_id: int,
        files: Iterable[bytes | tuple[bytes, str, str]],
        caption: str | None = None,
        *,
        user: dict[str, Any] | None = None,
        thread_id: int | None = None,
    ) -> list[dict[str, Any]]:
        """The user sends an album (in forum topic `thread_id`): one update per item, one
        `media_group_id`, the caption on the first item (as Telegram clients do). An item is
        photo bytes, or `(bytes, filename, mime)` for a document."""
        group = str(secrets.randbelow(10**17) + 10**17)
        updates = []
        for i, item in enumerate(files):
            cap = caption if i == 0 else None
            if isinstance(item, tuple):
                data, filename, mime = item
                msg = self._document_message(
                    chat_id, data, filename, mime, cap, group, user, thread_id
                )
            else:
                msg = self._photo_message(chat_id, item, cap, group, user, 1280, 960, thread_id)
            updates.append(self.push_update({"message": msg}))
        return updates

    def user_presses(
        self,
        chat_id: int,
        message_id: int,
        callback_data: str,
        *,
        user: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The user presses the inline button with `callback_data` under a bot message."""
        sent = self._find_sent(chat_id, message_id)
        if sent is None:
            raise KeyError(f"no bot message {message_id} in chat {chat_id}")
        if callback_data not in sent.button_data():
            raise KeyError(f"message {message_id} has no button {callback_data!r}")
        query = {
            "id": str(secrets.randbelow(10**18)),
            "from": user or self._default_user(chat_id),
            "message": copy.deepcopy(sent.message),
            "chat_instance": str(chat_id * 7),
            "data": callback_data,
        }
        return self.push_update({"callback_query": query})

    # ------------------------------------------------------------------ test-side API: forums

    def make_forum(self, chat_id: int, title: str = "税务大厅工作群") -> None:
        """Make `chat_id` (negative) a forum-enabled supergroup (topics allowed)."""
        self._chats[chat_id] = {
            "id": chat_id,
            "type": "supergroup",
            "title": title,
            "is_forum": True,
        }

    def limit_topics(self, per_window: int = 20, retry_after: int = 1) -> None:
        """Simulate Telegram's limit on new topics (about 20 a minute), deterministically:
        after `per_window` topics, createForumTopic is answered 429 with `retry_after` until
        `retry_after` seconds have passed since the first refusal; then `per_window` more may
        be created. The refusals do not depend on how fast (or loaded) the machine is: a
        sliding time window let a slow run create all topics without ever being refused."""
        self._topic_limit = (per_window, retry_after)
        self._topic_burst = 0
        self._topic_refused_at: float | None = None

    def delete_topic(self, chat_id: int, thread_id: int) -> None:
        """A person deletes the topic by hand: later sends to it fail."""
        self.topics[chat_id][thread_id]["deleted"] = True

    def close_topic(self, chat_id: int, thread_id: int) -> None:
        """A person closes the topic by hand."""
        self.topics[chat_id][thread_id]["closed"] = True

    def live_topics(self, chat_id: int) -> dict[int, str]:
        """Thread id -> name of the topics that are neither deleted nor closed."""
        return {
            t: v["name"]
            for t, v in self.topics[chat_id].items()
            if not v["deleted"] and not v["closed"]
        }

    def in_topic(self, chat_id: int, thread_id: int) -> list[SentMessage]:
        """What the bot sent into one topic of a forum, oldest first."""
        return [
            m
            for m in self.sent_messages(chat_id)
            if m.message.get("message_thread_id") == thread_id
        ]

    def user_edits_text(
        self, chat_id: int, message_id: int, text: str, *, user: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The user edits one of their text messages: an `edited_message` update."""
        original = self._user_messages.get((chat_id, message_id))
        if original is None:
            raise KeyError(f"no user message {message_id} in chat {chat_id}")
        original["text"] = text
        edited = copy.deepcopy(original)
        edited["edit_date"] = int(time.time())
        if user is not None:
            edited["from"] = user
        return self.push_update({"edited_message": edited})

    def push_update(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Queue an update (an `update_id` is assigned unless present)."""
        update = dict(payload)
        update.setdefault("update_id", next(self._update_ids))
        self._queue.append({"update": update, "delivered": False})
        self._new_update.set()
        return update

    def push_duplicate(self, update: dict[str, Any]) -> None:
        """Deliver `update` again with the same `update_id` (a webhook retry, a replay)."""
        self._queue.append({"update": copy.deepcopy(update), "delivered": False})
        self._new_update.set()

    # ------------------------------------------------------------------ test-side API: reading

    def sent_messages(self, chat_id: int, *, include_deleted: bool = False) -> list[SentMessage]:
        """What the bot sent to `chat_id`, oldest first."""
        return [m for m in self._sent[chat_id] if include_deleted or not m.deleted]

    async def wait_for_messages(
        self,
        chat_id: int,
        n: int,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> list[SentMessage]:
        """Wait until the bot has sent at least `n` messages to `chat_id`."""
        deadline = time.monotonic() + timeout
        while len(self._sent[chat_id]) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                got = [m.text for m in self._sent[chat_id]]
                raise AssertionError(f"expected {n} messages in chat {chat_id}, got {got}")
            self._new_message.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_message.wait(), left)
        return list(self._sent[chat_id])

    async def wait_until(
        self,
        predicate: Callable[[], bool],
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> None:
        """Poll `predicate` until it is true (for state that is not a sent message)."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError("condition not met in time")
            await asyncio.sleep(0.01)

    def calls_of(self, method: str) -> list[dict[str, Any]]:
        """Parameters of every call of `method` (case-insensitive), oldest first."""
        return [p for m, p in self.calls if m == method.lower()]

    @property
    def pending_updates(self) -> int:
        return len(self._queue)

    def fail_next(
        self,
        method: str,
        n: int = 1,
        *,
        status: int = 429,
        retry_after: int | None = 1,
        description: str | None = None,
    ) -> None:
        """Answer the next `n` calls of `method` with an error (429 with `retry_after`,
        or e.g. 500/502)."""
        if description is None:
            description = (
                f"Too Many Requests: retry after {retry_after}"
                if status == 429
                else "Internal Server Error"
            )
        self._faults[method.lower()] = Fault(
            n, status, description, retry_after if status == 429 else None
        )

    # ------------------------------------------------------------------ HTTP plumbing

    async def _handle_method(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return self._error(ApiError(401, "Unauthorized"))
        method = request.match_info["method"].lower()
        try:
            params = await self._read_params(request)
        except ValueError as e:
            return self._error(ApiError(400, f"Bad Request: {e}"))
        self.calls.append((method, params))
        fault = self._faults.get(method)
        if fault is not None and fault.remaining > 0:
            fault.remaining -= 1
            extra = {"retry_after": fault.retry_after} if fault.retry_after else None
            return self._error(ApiError(fault.status, fault.description, extra))
        handler = self._methods.get(method)
        if handler is None:
            return self._error(ApiError(404, "Not Found: method not found"))
        try:
            result = handler(params)
            if asyncio.iscoroutine(result):
                result = await result
        except ApiError as e:
            return self._error(e)
        return web.json_response({"ok": True, "result": result})

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.Response(status=401, text="Unauthorized")
        path = request.match_info["path"]
        stored = self._files_by_path.get(path)
        if stored is None:
            return web.Response(status=404, text="Not Found")
        self.downloads.append(path)
        return web.Response(body=stored.data, content_type="application/octet-stream")

    @staticmethod
    def _error(e: ApiError) -> web.Response:
        body: dict[str, Any] = {"ok": False, "error_code": e.status, "description": e.description}
        if e.parameters:
            body["parameters"] = e.parameters
        return web.json_response(body, status=e.status)

    async def _read_params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        ctype = request.content_type
        if request.method == "POST" and request.can_read_body:
            if ctype == "application/json":
                body = await request.json()
                if not isinstance(body, dict):
                    raise ValueError("JSON body must be an object")
                params.update(body)
                return params
            if ctype == "multipart/form-data":
                reader = await request.multipart()
                async for part in reader:
                    if not isinstance(part, BodyPartReader) or part.name is None:
                        continue
                    if part.filename:
                        data = bytes(await part.read())
                        params[part.name] = {
                            "__upload__": True,
                            "filename": part.filename,
                            "data": data,
                        }
                    else:
                        params[part.name] = await part.text()
            elif ctype == "application/x-www-form-urlencoded":
                params.update(dict(await request.post()))
        return {k: self._coerce(k, v) for k, v in params.items()}

    @staticmethod
    def _coerce(key: str, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if key in _JSON_FIELDS:
            try:
                return json.loads(value)
            except json.JSONDecodeError as e:
                raise ValueError(f"can't parse {key} JSON object") from e
        if key in _BOOL_FIELDS:
            return value.lower() in {"true", "1"}
        if key in _INT_FIELDS or key == "chat_id":
            try:
                return int(value)
            except ValueError:
                if key == "chat_id":
                    return value
                raise ValueError(f"field {key} must be an integer") from None
        return value

    # ------------------------------------------------------------------ methods: updates

    def _get_me(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "TaxDesk Test",
            "username": "taxdesk_test_bot",
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self._webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = int(params.get("offset") or 0)
        limit = max(1, min(100, int(params.get("limit") or 100)))
        timeout = min(float(params.get("timeout") or 0), self.max_long_poll)
        allowed = params.get("allowed_updates") or None
        if offset:
            # Confirm: what was delivered and is below the offset is gone for good.
            self._queue = [
                e
                for e in self._queue
                if not (e["delivered"] and e["update"]["update_id"] < offset)
            ]
        deadline = time.monotonic() + timeout
        while True:
            ready = [e for e in self._queue if self._allowed(e["update"], allowed)]
            if ready or self._closing:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._new_update.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_update.wait(), left)
        batch = ready[:limit]
        for e in batch:
            e["delivered"] = True
        return [copy.deepcopy(e["update"]) for e in batch]

    @staticmethod
    def _allowed(update: dict[str, Any], allowed: list[str] | None) -> bool:
        if not allowed:
            return True
        return any(k in update for k in allowed)

    async def _set_webhook(self, params: dict[str, Any]) -> bool:
        url = params.get("url") or ""
        if not url:
            return await self._delete_webhook(params)
        if not url.startswith(("http://", "https://")):
            raise ApiError(400, "Bad Request: bad webhook: Webhook can be set up only on HTTPS")
        secret = params.get("secret_token")
        if secret is not None and not (
            1 <= len(secret) <= 256 and all(c.isalnum() or c in "_-" for c in secret)
        ):
            raise ApiError(
                400, "Bad Request: bad webhook: secret token contains unallowed characters"
            )
        if params.get("drop_pending_updates"):
            self._queue.clear()
        await self._stop_webhook_task()
        self._webhook = {
            "url": url,
            "secret_token": secret,
            "allowed_updates": params.get("allowed_updates") or None,
            "max_connections": int(params.get("max_connections") or 40),
        }
        self._webhook_error = None
        self._webhook_task = asyncio.create_task(self._deliver_webhooks())
        return True

    async def _delete_webhook(self, params: dict[str, Any]) -> bool:
        if params.get("drop_pending_updates"):
            self._queue.clear()
        await self._stop_webhook_task()
        self._webhook = None
        for e in self._queue:
            e["delivered"] = False
        return True

    def _get_webhook_info(self, params: dict[str, Any]) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self._webhook["url"] if self._webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._queue),
        }
        if self._webhook:
            info["max_connections"] = self._webhook["max_connections"]
            if self._webhook["allowed_updates"]:
                info["allowed_updates"] = self._webhook["allowed_updates"]
        if self._webhook_error:
            info["last_error_date"], info["last_error_message"] = self._webhook_error
        return info

    async def _stop_webhook_task(self) -> None:
        task, self._webhook_task = self._webhook_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _deliver_webhooks(self) -> None:
        """POST queued updates to the webhook in order; retry each until it answers 200."""
        assert self._webhook is not None
        hook = self._webhook
        headers = {"Content-Type": "application/json"}
        if hook["secret_token"]:
            headers["X-Telegram-Bot-Api-Secret-Token"] = hook["secret_token"]
        async with ClientSession(timeout=ClientTimeout(total=10)) as session:
            while True:
                entry = next(
                    (
                        e
                        for e in self._queue
                        if self._allowed(e["update"], hook["allowed_updates"])
                    ),
                    None,
                )
                if entry is None:
                    # Updates of types the webhook did not ask for are dropped, as upstream.
                    self._queue.clear()
                    self._new_update.clear()
                    await self._new_update.wait()
                    continue
                update = entry["update"]
                try:
                    async with session.post(
                        hook["url"], data=json.dumps(update), headers=headers
                    ) as resp:
                        status = resp.status
                        body = await resp.read()
                except (ClientError, TimeoutError) as e:
                    status, body = 0, b""
                    self._webhook_error = (int(time.time()), f"Connection failed: {e}")
                self.webhook_deliveries.append((update["update_id"], status))
                if status == 200:
                    self._queue.remove(entry)
                    await self._answer_in_webhook_response(body)
                    continue
                if status:
                    self._webhook_error = (
                        int(time.time()),
                        f"Wrong response from the webhook: {status}",
                    )
                await asyncio.sleep(self.webhook_retry_delay)

    async def _answer_in_webhook_response(self, body: bytes) -> None:
        """A webhook may answer with one method call in the response body."""
        if not body:
            return
        with contextlib.suppress(ValueError):
            payload = json.loads(body)
            if isinstance(payload, dict) and "method" in payload:
                method = str(payload.pop("method")).lower()
                self.calls.append((method, payload))
                handler = self._methods.get(method)
                if handler is not None:
                    with contextlib.suppress(ApiError):
                        result = handler(payload)
                        if asyncio.iscoroutine(result):
                            await result

    def _close_method(self, params: dict[str, Any]) -> bool:
        return True

    # ------------------------------------------------------------------ methods: messages

    def _chat(self, chat_id: Any) -> dict[str, Any]:
        try:
            cid = int(chat_id)
        except (TypeError, ValueError):
            raise ApiError(400, "Bad Request: chat not found") from None
        if cid in self._chats:
            return self._chats[cid]
        if cid > 0:
            return {"id": cid, "type": "private", "first_name": f"User{cid}"}
        return {"id": cid, "type": "supergroup", "title": f"Group {cid}"}

    def _bot_message(self, chat_id: Any, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(chat_id)
        msg: dict[str, Any] = {
            "message_id": next(self._message_ids[chat["id"]]),
            "date": int(time.time()),
            "chat": chat,
            "from": {
                "id": self.bot_id,
                "is_bot": True,
                "first_name": "TaxDesk Test",
                "username": "taxdesk_test_bot",
            },
        }
        thread = params.get("message_thread_id")
        if thread is not None:
            self._check_thread(chat["id"], int(thread))
            msg["message_thread_id"] = int(thread)
            msg["is_topic_message"] = True
        reply = params.get("reply_parameters") or {}
        reply_id = reply.get("message_id") or params.get("reply_to_message_id")
        if reply_id:
            msg["reply_to_message"] = copy.deepcopy(self._any_message(chat["id"], int(reply_id)))
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            self._check_inline_keyboard(markup)
            msg["reply_markup"] = markup
        elif isinstance(markup, dict) and "keyboard" in markup:
            self._check_reply_keyboard(chat, markup)
            self.reply_keyboards[chat["id"]] = markup  # (not part of the message object)
        elif isinstance(markup, dict) and markup.get("remove_keyboard"):
            self.reply_keyboards.pop(chat["id"], None)
        return msg

    @staticmethod
    def _check_reply_keyboard(chat: dict[str, Any], markup: dict[str, Any]) -> None:
        """A reply keyboard as Telegram takes it: rows of buttons with a text;
        `request_contact` only in private chats."""
        rows = markup.get("keyboard")
        if not isinstance(rows, list) or not rows:
            raise ApiError(400, "Bad Request: keyboard must be a non-empty array")
        for row in rows:
            for b in row:
                if not isinstance(b, dict) or not b.get("text"):
                    raise ApiError(400, "Bad Request: keyboard button text is empty")
                if b.get("request_contact") and chat.get("type") != "private":
                    raise ApiError(
                        400, "Bad Request: phone number can be requested in private chats only"
                    )

    def _check_thread(self, chat_id: int, thread_id: int) -> None:
        topic = self.topics[chat_id].get(thread_id)
        if topic is None or topic["deleted"]:
            raise ApiError(400, "Bad Request: message thread not found")
        if topic["closed"]:
            raise ApiError(400, "Bad Request: TOPIC_CLOSED")

    def _any_message(self, chat_id: int, message_id: int) -> dict[str, Any]:
        sent = self._find_sent(chat_id, message_id)
        if sent is not None:
            return sent.message
        found = self._user_messages.get((chat_id, message_id))
        if found is None:
            raise ApiError(400, "Bad Request: message to be replied not found")
        return found

    # ------------------------------------------------------------------ methods: forums

    def _forum(self, chat_id: Any) -> dict[str, Any]:
        chat = self._chat(chat_id)
        if not chat.get("is_forum"):
            raise ApiError(400, "Bad Request: the chat is not a forum")
        return chat

    def _create_forum_topic(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._forum(params.get("chat_id"))
        name = str(params.get("name") or "")
        if not 1 <= len(name) <= 128:
            raise ApiError(400, "Bad Request: TOPIC_NAME_INVALID")
        if self._topic_limit is not None:
            per_window, retry_after = self._topic_limit
            now = time.monotonic()
            if self._topic_burst >= per_window:
                if self._topic_refused_at is None:
                    self._topic_refused_at = now
                if now - self._topic_refused_at < retry_after:
                    raise ApiError(
                        429,
                        f"Too Many Requests: retry after {retry_after}",
                        {"retry_after": retry_after},
                    )
                self._topic_burst, self._topic_refused_at = 0, None
            if self._topic_burst >= per_window:  # per_window=0: every call refused
                self._topic_refused_at = now
                raise ApiError(
                    429,
                    f"Too Many Requests: retry after {retry_after}",
                    {"retry_after": retry_after},
                )
            self._topic_burst += 1
        thread_id = next(self._message_ids[chat["id"]])  # the topic's service message
        self.topics[chat["id"]][thread_id] = {"name": name, "closed": False, "deleted": False}
        return {"message_thread_id": thread_id, "name": name, "icon_color": 7322096}

    def _topic(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._forum(params.get("chat_id"))
        topic = self.topics[chat["id"]].get(int(params.get("message_thread_id") or 0))
        if topic is None or topic["deleted"]:
            raise ApiError(400, "Bad Request: message thread not found")
        return topic

    def _edit_forum_topic(self, params: dict[str, Any]) -> bool:
        topic = self._topic(params)
        if params.get("name"):
            if str(params["name"]) == topic["name"]:
                raise ApiError(400, "Bad Request: TOPIC_NOT_MODIFIED")
            topic["name"] = str(params["name"])
        return True

    def _close_forum_topic(self, params: dict[str, Any]) -> bool:
        self._topic(params)["closed"] = True
        return True

    def _reopen_forum_topic(self, params: dict[str, Any]) -> bool:
        self._topic(params)["closed"] = False
        return True

    def _delete_forum_topic(self, params: dict[str, Any]) -> bool:
        self._topic(params)["deleted"] = True
        return True

    def _pin_chat_message(self, params: dict[str, Any]) -> bool:
        chat = self._chat(params.get("chat_id"))
        if self._find_sent(chat["id"], params.get("message_id")) is None:
            raise ApiError(400, "Bad Request: message to pin not found")
        self.pinned.append((int(chat["id"]), int(params["message_id"])))
        return True

    def _copy_message(self, params: dict[str, Any], method: str = "copyMessage") -> dict[str, Any]:
        source = self._any_message(
            int(params.get("from_chat_id") or 0), int(params.get("message_id") or 0)
        )
        msg = self._bot_message(params.get("chat_id"), params)
        for key in ("text", "photo", "document", "entities", "caption_entities"):
            if key in source:
                msg[key] = copy.deepcopy(source[key])
        if "caption" in params:
            if params["caption"]:
                msg["caption"] = params["caption"]
        elif source.get("caption"):
            msg["caption"] = source["caption"]
        if msg.get("caption") and self._utf16_len(str(msg["caption"])) > CAPTION_LIMIT:
            raise ApiError(400, "Bad Request: message caption is too long")
        if not any(k in msg for k in ("text", "photo", "document")):
            raise ApiError(400, "Bad Request: message can't be copied")
        if method == "copyMessages" and source.get("media_group_id"):
            msg["media_group_id"] = f"copy-{source['media_group_id']}"  # still one album
        self._record_sent(method, msg, params)
        return {"message_id": msg["message_id"]}

    def _copy_messages(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        ids = params.get("message_ids")
        if isinstance(ids, str):
            ids = json.loads(ids)
        if not isinstance(ids, list) or not ids:
            raise ApiError(400, "Bad Request: message identifiers are not specified")
        return [
            self._copy_message({**params, "message_id": int(i)}, "copyMessages")
            for i in sorted(int(i) for i in ids)
        ]

    @staticmethod
    def _check_inline_keyboard(markup: dict[str, Any]) -> None:
        for row in markup["inline_keyboard"]:
            for button in row:
                data = button.get("callback_data")
                if data is not None and not 1 <= len(data.encode()) <= 64:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")

    def _record_sent(self, method: str, message: dict[str, Any], params: dict[str, Any]) -> None:
        self._sent[message["chat"]["id"]].append(SentMessage(method, message, params))
        self._new_message.set()

    @staticmethod
    def _utf16_len(text: str) -> int:
        return len(text.encode("utf-16-le")) // 2

    def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        text = params.get("text")
        if not text or not str(text).strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if self._utf16_len(str(text)) > MESSAGE_LIMIT:
            raise ApiError(400, "Bad Request: message is too long")
        msg = self._bot_message(params.get("chat_id"), params)
        msg["text"] = str(text)
        self._record_sent("sendMessage", msg, params)
        return msg

    def _media_payload(
        self, value: Any, default_name: str, params: dict[str, Any] | None = None
    ) -> StoredFile:
        if isinstance(value, str) and value.startswith("attach://") and params is not None:
            value = params.get(value.removeprefix("attach://"))
        if isinstance(value, dict) and value.get("__upload__"):
            return self._store_file(value["data"], "uploads", value["filename"] or default_name)
        if isinstance(value, str) and value in self.files:
            return self.files[value]
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            raise ApiError(400, "Bad Request: failed to get HTTP URL content")
        raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")

    def _check_caption(self, params: dict[str, Any]) -> None:
        caption = params.get("caption")
        if caption and self._utf16_len(str(caption)) > CAPTION_LIMIT:
            raise ApiError(400, "Bad Request: message caption is too long")

    def _send_photo(self, params: dict[str, Any]) -> dict[str, Any]:
        self._check_caption(params)
        stored = self._media_payload(params.get("photo"), "photo.jpg", params)
        msg = self._bot_message(params.get("chat_id"), params)
        msg["photo"] = [self._photo_size(stored, 1280, 960)]
        if params.get("caption"):
            msg["caption"] = params["caption"]
        self._record_sent("sendPhoto", msg, params)
        return msg

    def _send_document(self, params: dict[str, Any]) -> dict[str, Any]:
        self._check_caption(params)
        raw = params.get("document")
        if isinstance(raw, str) and raw.startswith("attach://"):
            raw = params.get(raw.removeprefix("attach://"))
        stored = self._media_payload(raw, "document")
        name = raw.get("filename") if isinstance(raw, dict) else Path(stored.file_path).name
        msg = self._bot_message(params.get("chat_id"), params)
        msg["document"] = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_name": name,
            "file_size": len(stored.data),
        }
        if params.get("caption"):
            msg["caption"] = params["caption"]
        self._record_sent("sendDocument", msg, params)
        return msg

    def _send_chat_action(self, params: dict[str, Any]) -> bool:
        action = params.get("action")
        if action not in {
            "typing",
            "upload_photo",
            "record_video",
            "upload_video",
            "record_voice",
            "upload_voice",
            "upload_document",
            "choose_sticker",
            "find_location",
            "record_video_note",
            "upload_video_note",
        }:
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        self.chat_actions.append((int(self._chat(params.get("chat_id"))["id"]), str(action)))
        return True

    def _get_file(self, params: dict[str, Any]) -> dict[str, Any]:
        stored = self.files.get(str(params.get("file_id")))
        if stored is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        size = len(stored.data)
        if size > self.download_limit:
            raise ApiError(400, "Bad Request: file is too big")
        path = stored.file_path
        if self.local_mode:
            if stored.local_path is None:
                stored.local_path = Path(self._tmp.name) / stored.file_path
                stored.local_path.parent.mkdir(parents=True, exist_ok=True)
                stored.local_path.write_bytes(stored.data)
            path = str(stored.local_path)
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": size,
            "file_path": path,
        }

    def _find_sent(self, chat_id: Any, message_id: Any) -> SentMessage | None:
        try:
            cid, mid = int(chat_id), int(message_id)
        except (TypeError, ValueError):
            return None
        for m in self._sent.get(cid, []):
            if m.message_id == mid and not m.deleted:
                return m
        return None

    def _edit_target(self, params: dict[str, Any]) -> SentMessage:
        if params.get("inline_message_id"):
            raise ApiError(400, "Bad Request: inline messages are not supported here")
        sent = self._find_sent(params.get("chat_id"), params.get("message_id"))
        if sent is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        return sent

    def _edit_message_text(self, params: dict[str, Any]) -> dict[str, Any]:
        sent = self._edit_target(params)
        text = str(params.get("text") or "")
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if self._utf16_len(text) > MESSAGE_LIMIT:
            raise ApiError(400, "Bad Request: message is too long")
        markup = params.get("reply_markup")
        if text == sent.message.get("text") and markup == sent.reply_markup:
            raise ApiError(
                400,
                "Bad Request: message is not modified: specified new message content and "
                "reply markup are exactly the same as a current content and reply markup "
                "of the message",
            )
        sent.edits.append(copy.deepcopy(sent.message))
        sent.message["text"] = text
        sent.message["edit_date"] = int(time.time())
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            self._check_inline_keyboard(markup)
            sent.message["reply_markup"] = markup
        else:
            sent.message.pop("reply_markup", None)
        return copy.deepcopy(sent.message)

    def _edit_message_reply_markup(self, params: dict[str, Any]) -> dict[str, Any]:
        sent = self._edit_target(params)
        markup = params.get("reply_markup")
        new = markup if isinstance(markup, dict) and markup.get("inline_keyboard") else None
        if new == sent.reply_markup:
            raise ApiError(
                400,
                "Bad Request: message is not modified: specified new message content and "
                "reply markup are exactly the same as a current content and reply markup "
                "of the message",
            )
        sent.edits.append(copy.deepcopy(sent.message))
        if new is None:
            sent.message.pop("reply_markup", None)
        else:
            self._check_inline_keyboard(new)
            sent.message["reply_markup"] = new
        sent.message["edit_date"] = int(time.time())
        return copy.deepcopy(sent.message)

    def _answer_callback_query(self, params: dict[str, Any]) -> bool:
        if not params.get("callback_query_id"):
            raise ApiError(400, "Bad Request: query is too old and response timeout expired")
        self.answered_callbacks.append(params)
        return True

    @staticmethod
    def _commands_key(params: dict[str, Any]) -> str:
        scope = params.get("scope") or {"type": "default"}
        return f"{json.dumps(scope, sort_keys=True)}|{params.get('language_code') or ''}"

    def _set_my_commands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise ApiError(400, "Bad Request: can't parse commands JSON object")
        for c in commands:
            name = str(c.get("command", ""))
            if not (1 <= len(name) <= 32) or not all(
                ch.islower() or ch.isdigit() or ch == "_" for ch in name
            ):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(c.get("description", ""))) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[self._commands_key(params)] = commands
        return True

    def _get_my_commands(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        return self.commands.get(self._commands_key(params), [])

    def _delete_my_commands(self, params: dict[str, Any]) -> bool:
        self.commands.pop(self._commands_key(params), None)
        return True

    def _delete_message(self, params: dict[str, Any]) -> bool:
        sent = self._find_sent(params.get("chat_id"), params.get("message_id"))
        if sent is None:
            key = (int(params.get("chat_id") or 0), int(params.get("message_id") or 0))
            if self._user_messages.pop(key, None) is None:
                raise ApiError(400, "Bad Request: message to delete not found")
            return True
        sent.deleted = True
        return True

    # ------------------------------------------------------------------ helpers: user side

    @staticmethod
    def _default_user(chat_id: int, language_code: str = "zh-hans") -> dict[str, Any]:
        return {
            "id": chat_id,
            "is_bot": False,
            "first_name": f"User{chat_id}",
            "language_code": language_code,
        }

    def _user_message(
        self,
        chat_id: int,
        user: dict[str, Any] | None,
        language_code: str = "zh-hans",
        *,
        thread_id: int | None = None,
    ) -> dict[str, Any]:
        if user is None:
            if chat_id < 0:
                raise ValueError("a group message needs user=")
            user = self._default_user(chat_id, language_code)
        if chat_id > 0:
            chat = {"id": chat_id, "type": "private", "first_name": user.get("first_name", "")}
        else:
            chat = {"id": chat_id, "type": "supergroup", "title": f"Group {chat_id}"}
        chat = self._chats.setdefault(chat_id, chat)
        message: dict[str, Any] = {
            "message_id": next(self._message_ids[chat_id]),
            "date": int(time.time()),
            "chat": chat,
            "from": user,
        }
        if thread_id is not None:
            message["message_thread_id"] = thread_id
            message["is_topic_message"] = True
        self._user_messages[(chat_id, message["message_id"])] = message
        return message

    def _store_file(self, data: bytes, folder: str, name: str) -> StoredFile:
        file_id = "F" + secrets.token_urlsafe(24)
        suffix = Path(name).suffix or ".bin"
        stored = StoredFile(
            file_id=file_id,
            file_unique_id="U" + secrets.token_urlsafe(8),
            data=data,
            file_path=f"{folder}/file_{len(self.files)}{suffix}",
        )
        self.files[file_id] = stored
        self._files_by_path[stored.file_path] = stored
        return stored

    @staticmethod
    def _photo_size(stored: StoredFile, width: int, height: int) -> dict[str, Any]:
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "width": width,
            "height": height,
            "file_size": len(stored.data),
        }

    def _photo_message(
        self,
        chat_id: int,
        data: bytes,
        caption: str | None,
        media_group_id: str | None,
        user: dict[str, Any] | None,
        width: int,
        height: int,
        thread_id: int | None = None,
    ) -> dict[str, Any]:
        message = self._user_message(chat_id, user, thread_id=thread_id)
        full = self._store_file(data, "photos", "photo.jpg")
        thumb = self._store_file(data[: max(1, len(data) // 8)], "thumbnails", "thumb.jpg")
        message["photo"] = [
            self._photo_size(thumb, max(1, width // 8), max(1, height // 8)),
            self._photo_size(full, width, height),
        ]
        if caption:
            message["caption"] = caption
        if media_group_id:
            message["media_group_id"] = media_group_id
        return message

    def _document_message(
        self,
        chat_id: int,
        data: bytes,
        filename: str,
        mime: str,
        caption: str | None,
        media_group_id: str | None,
        user: dict[str, Any] | None,
        thread_id: int | None = None,
    ) -> dict[str, Any]:
        message = self._user_message(chat_id, user, thread_id=thread_id)
        stored = self._store_file(data, "documents", filename)
        message["document"] = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_name": filename,
            "mime_type": mime,
            "file_size": len(data),
        }
        if caption:
            message["caption"] = caption
        if media_group_id:
            message["media_group_id"] = media_group_id
        return message


MakeBotAPI = Callable[..., Awaitable[BotAPIServer]]
"""The type of the `make_botapi` fixture: `await make_botapi(**options)` starts a server."""
