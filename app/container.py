"""The one container of dependencies, and how a process builds it from settings.

settings → desk runtime → NLU → dialogue engine → adapters → `Container`. The channels and
runners (`app.telegram`, `app.runners`, `app.shell`) take the container and nothing else;
tests build one over fakes (`testing.memory`, an echo dialogue) or with `build_container`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from actions.domain import Domain
from actions.engine import DialogueEngine
from actions.live import LiveDomain
from actions.ports import Interpreter, TrackerStore
from app.adapters import (
    DeskCaseGateway,
    DeskConversations,
    DeskFileIntake,
    DeskInboundStore,
    DeskNoticeLookups,
    DeskOutboundStore,
    DeskStaffTopics,
    DeskTrackerStore,
)
from app.settings import Settings
from bot.files import LOCAL_LIMIT, OFFICIAL_LIMIT
from bot.notices import POLL_INTERVAL
from bot.ports import (
    AttachmentLinker,
    ButtonStore,
    Dialogue,
    FileIntake,
    InboundStore,
    NoticeLookups,
    OutboundStore,
)
from bot.sender import RateLimiter
from desk.buttons import DeskButtonStore
from desk.case_types import CaseTypeCatalog
from desk.messages import DeskAttachmentLinker
from desk.runtime import ROOT, DeskRuntime

log = logging.getLogger(__name__)

DATA_DIR = ROOT / "data"


@dataclass
class Container:
    """What one process shares between its channels and workers.

    `engine` is the dialogue (`DialogueEngine`; channel tests put a fake here). `runtime` is
    the desk: without it no outbox worker runs. `buttons`: the button map (None: kept in the
    bot's FSM storage, i.e. Redis when `REDIS_URL` is set). The fields from `album_quiet` on
    are tuning that tests change; the defaults are for production."""

    settings: Settings
    engine: Dialogue
    inbound: InboundStore
    intake: FileIntake
    outbound: OutboundStore | None = None  # records what the bot sent
    buttons: ButtonStore | None = None
    links: AttachmentLinker | None = None  # files onto their message rows (None: not linked)
    runtime: DeskRuntime | None = None
    lookups: NoticeLookups | None = None  # what the notice sender reads (default: of `runtime`)
    staff: DeskStaffTopics | None = None  # the staff supergroup's desk (with `STAFF_CHAT_ID`)
    album_quiet: float = 0.8  # seconds without a new album item before the album is done
    typing_delay: float = 0.4  # seconds before "typing…" is shown
    limiter: RateLimiter = field(default_factory=RateLimiter)
    outbox_poll_interval: float = POLL_INTERVAL
    topics_per_minute: int = 20  # new staff topics a minute (Telegram allows about 20)
    staff_messages_per_minute: int = 20  # messages into the staff group (20/min per group)
    staff_limits_prefix: str = "taxdesk:staff-limits:"  # Redis keys of the two limits above
    # the Telegram webhook's handler when the web application serves it (`main.py run`)
    webhook_handler: Callable[[Any], Awaitable[Any]] | None = None
    dialogue_dir: Path = DATA_DIR  # the dialogue's files (and the NLU data the studio edits)
    live_domain: LiveDomain | None = None  # follows `dialogue_dir` (None: a fake dialogue)

    @property
    def dialogue_engine(self) -> DialogueEngine | None:
        """`engine` when it is the real `DialogueEngine`, which the outbox worker asks for the
        taxpayer's script and tells about staff questions; None for a fake."""
        return self.engine if isinstance(self.engine, DialogueEngine) else None

    def notice_lookups(self) -> NoticeLookups:
        """What the outbox's notice sender reads of the desk: `lookups`, or the desk's own
        (`app.adapters.DeskNoticeLookups`) over `runtime`."""
        if self.lookups is not None:
            return self.lookups
        if self.runtime is None:
            raise RuntimeError("no desk runtime: the outbox worker cannot run")
        return DeskNoticeLookups(self.runtime, self.settings.data_dir)


def download_limit(settings: Settings) -> int:
    """The largest file the Bot API server hands out: 20 MB, or 2000 MB from a self-hosted
    server in `--local` mode (`TELEGRAM_API_LOCAL`)."""
    local = bool(settings.telegram_api_url and settings.telegram_api_local)
    return LOCAL_LIMIT if local else OFFICIAL_LIMIT


def load_interpreter(settings: Settings) -> Interpreter:
    """The active NLU model of `TAXDESK_MODELS_DIR` (blocking: call in a thread at start-up),
    followed by `nlu.live.LiveInterpreter`: an activation in the studio reaches this process
    without a restart (Redis pub/sub with `REDIS_URL`, else a check of the pointer every 2 s).
    A remote Rasa backend (`nlu_backend` in config.yml) is used as it is."""
    from nlu.interpreter import Interpreter as NluInterpreter
    from nlu.live import LiveInterpreter

    interpreter = NluInterpreter.load(Path(settings.models_dir), Path(settings.nlu_config))
    if interpreter.is_remote:
        return interpreter
    return LiveInterpreter(
        interpreter, Path(settings.models_dir), redis_url=settings.redis_url
    ).start()


@contextlib.asynccontextmanager
async def build_container(
    settings: Settings,
    *,
    interpreter: Interpreter | None = None,
    today: Callable[[], date] = date.today,
    redis_prefix: str = "taxdesk:tracker:",
    dialogue_dir: Path = DATA_DIR,
    domain_interval: float = 2.0,
) -> AsyncIterator[Container]:
    """Open the desk, load the NLU model and the domain, build the dialogue engine and the
    adapters; close them all on exit. Trackers live in the conversation rows, or in Redis
    when `REDIS_URL` is set (keys `<redis_prefix><channel>:<chat>`). Button maps live in the
    database (`desk.buttons`), or in the bot's Redis FSM storage when `REDIS_URL` is set:
    either way they survive restarts and are shared by the bot and worker processes.

    The dialogue's files are read from `dialogue_dir` and followed (`actions.live.LiveDomain`,
    a look at them every `domain_interval` seconds, Redis pub/sub with `REDIS_URL`): an edit
    reaches the engine and the desk's case types of this process without a restart."""
    runtime = await asyncio.to_thread(DeskRuntime.create, settings.effective_database_url)
    closers: list[Callable[[], Awaitable[Any]]] = [runtime.close]
    try:
        if interpreter is None:
            interpreter = await asyncio.to_thread(load_interpreter, settings)
            aclose = getattr(interpreter, "aclose", None)
            if aclose is not None:
                closers.append(aclose)
        domain = await asyncio.to_thread(Domain.load, dialogue_dir)
        if domain.catalog is not None:  # the desk reads the same case types as the dialogue
            runtime.catalog = domain.catalog
        conversations = DeskConversations(runtime)
        closers.append(conversations.writes.aclose)  # queued writes land before the engine goes
        store: TrackerStore
        if settings.redis_url:
            from actions.stores import RedisTrackerStore

            redis_store = RedisTrackerStore.from_url(settings.redis_url, prefix=redis_prefix)
            closers.append(redis_store.aclose)
            store = redis_store
        else:
            store = DeskTrackerStore(conversations)
        engine = DialogueEngine(
            interpreter,
            DeskCaseGateway(conversations, staff_chat=settings.staff_chat_id is not None),
            store,
            domain,
            today=today,
        )
        live = LiveDomain(
            domain, dialogue_dir, interval=domain_interval, redis_url=settings.redis_url
        )
        live.subscribe(engine.use_domain)  # first: the engine may refuse the new domain
        live.subscribe(lambda new: _use_catalog(runtime, new))
        closers.append(live.aclose)
        live.start()
        yield Container(
            settings=settings,
            engine=engine,
            inbound=DeskInboundStore(conversations),
            intake=DeskFileIntake(
                conversations, settings.data_dir, max_bytes=download_limit(settings)
            ),
            outbound=DeskOutboundStore(conversations),
            buttons=None
            if settings.redis_url
            else DeskButtonStore(runtime.sessions, clock=runtime.clock),
            links=DeskAttachmentLinker(runtime.sessions),
            runtime=runtime,
            lookups=DeskNoticeLookups(runtime, settings.data_dir),
            staff=DeskStaffTopics(
                conversations, on_take_over=engine.note_taken_over, intents=engine.recent_intents
            ),
            dialogue_dir=dialogue_dir,
            live_domain=live,
        )
    finally:
        for close in reversed(closers):
            with contextlib.suppress(Exception):
                await close()


def _use_catalog(runtime: DeskRuntime, domain: Domain) -> None:
    """The desk's case types follow the dialogue's (one reference, read per session). A case
    type removed from the file stays readable by the desk until the process restarts: its
    existing cases still show in the queue and the case pages, while the dialogue, which
    has the new domain alone, opens no new case of it."""
    if domain.catalog is None:
        return
    new = {ct.key: ct for ct in domain.catalog}
    kept = {ct.key: ct for ct in runtime.catalog if ct.key not in new}
    runtime.catalog = (
        CaseTypeCatalog({**new, **kept}, domain.catalog.source) if kept else domain.catalog
    )
