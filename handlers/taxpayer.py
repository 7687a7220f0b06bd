"""The taxpayer's chat: commands and text, handed to the dialogue."""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import BotCommand, Message

from actions.channel import COMMANDS as CHAT_COMMANDS
from bot.convert import CHANNEL, from_contact, from_message, pick
from bot.ports import StaffRelay
from bot.turns import TurnRunner

#: command -> (menu description, payload fed to the dialogue): one table for every channel
COMMANDS = CHAT_COMMANDS


def bot_commands() -> list[BotCommand]:
    """The command menu registered with `setMyCommands`."""
    return [BotCommand(command=c, description=d) for c, (d, _) in COMMANDS.items()]


async def on_command(
    message: Message, command: CommandObject, bot: Bot, turns: TurnRunner
) -> None:
    """A menu command becomes its dialogue payload (`/status` -> `/check_status`)."""
    payload = COMMANDS[command.command.lower()][1]
    await turns.run(bot, from_message(message, text=payload), originals=_original(message))


async def on_text(message: Message, bot: Bot, turns: TurnRunner) -> None:
    """Free text goes to the dialogue as it is."""
    await turns.run(bot, from_message(message, text=message.text), originals=_original(message))


def _original(message: Message) -> list[tuple[int, str | None, int | None]]:
    """The message for the staff relay: its id and the id of the message it quotes."""
    quoted = message.reply_to_message
    return [(message.message_id, None, quoted.message_id if quoted is not None else None)]


async def on_contact(message: Message, bot: Bot, turns: TurnRunner) -> None:
    """A shared contact card (the contact button): the dialogue verifies it (only the
    sender's own card, a registered tax handler's number)."""
    await turns.run(bot, from_contact(message), originals=_original(message))


async def has_contact(message: Message) -> bool:
    """A contact card (async: aiogram runs sync filters in a thread)."""
    return message.contact is not None


async def on_edit(message: Message, staff_relay: StaffRelay | None = None) -> None:
    """An edited text: with a staff group, its copy in the staff topic follows."""
    if staff_relay is not None and message.text is not None:
        await staff_relay.relay_edit_to_staff(
            CHANNEL, str(message.chat.id), message.message_id, message.text
        )


async def on_other(message: Message) -> None:
    """Stickers, voice, locations…: say what the bot can read."""
    lang = message.from_user.language_code if message.from_user else None
    await message.answer(
        pick(
            lang,
            "我目前能看懂文字、照片和 PDF 文件，请用文字描述您要办的事。",
            "我目前能看懂文字、照片和 PDF 文件，請用文字描述您要辦的事。",
        )
    )


async def has_text(message: Message) -> bool:
    """A text message (async: aiogram runs sync filters in a thread)."""
    return message.text is not None


def build_router() -> Router:
    """Commands, then text, then contact cards, then anything else."""
    router = Router(name="taxpayer")
    router.message.register(on_command, Command(*COMMANDS, ignore_case=True))
    router.message.register(on_text, has_text)
    router.message.register(on_contact, has_contact)
    router.message.register(on_other)
    router.edited_message.register(on_edit)
    return router
