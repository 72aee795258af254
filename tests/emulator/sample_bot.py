"""A tiny bot exercising what the product does: commands, keyboards, edits, a support relay."""

from __future__ import annotations

from typing import Any

from telegram import BotCommand, BotCommandScopeAllPrivateChats, InlineKeyboardButton, Update
from telegram import InlineKeyboardMarkup as Keyboard
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from telegram_emulator import EmulatorRequest, TelegramEmulator

MENU = Keyboard(
    [
        [
            InlineKeyboardButton("Balance", callback_data="bal"),
            InlineKeyboardButton("Coupons", callback_data="cpn"),
        ],
        [InlineKeyboardButton("Shop", url="https://shop.example/")],
    ]
)


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    token = context.args[0] if context.args else "-"
    await update.effective_message.reply_text(
        f"Welcome, {update.effective_user.first_name}! token={token}"
    )


async def menu(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await update.effective_message.reply_html(
        "<b>Your account</b>\nPick one:", reply_markup=MENU, protect_content=True
    )


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    if query.data == "bal":
        await query.answer("You have 10 points")
        await query.edit_message_text("Balance: <i>10</i> points", parse_mode="HTML")
    elif query.data == "cpn":
        await query.answer("No coupons yet", show_alert=True)
    else:
        await query.answer("Unknown button", show_alert=True)


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await update.effective_message.reply_text(update.effective_message.text)


async def echo_media(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    await message.copy(message.chat_id)


async def fail(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    raise RuntimeError("boom")


async def support(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Open (or reuse) the member's topic in the agents' forum and copy the message there."""
    user, message = update.effective_user, update.effective_message
    agents = context.bot_data["agents"]
    topics: dict[int, int] = context.bot_data.setdefault("topics", {})
    members: dict[int, int] = context.bot_data.setdefault("members", {})
    if user.id not in topics:
        topic = await context.bot.create_forum_topic(agents, f"{user.first_name} ({user.id})")
        topics[user.id] = topic.message_thread_id
        members[topic.message_thread_id] = user.id
    await message.copy(agents, message_thread_id=topics[user.id])
    await message.reply_text("Sent to support")


async def agent_reply(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Copy what an agent writes in a member's topic to that member."""
    message = update.effective_message
    member = context.bot_data.get("members", {}).get(message.message_thread_id)
    if member is not None:
        await message.copy(member)


async def set_commands(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Set the command menu in English (default) and German."""
    bot = application.bot
    await bot.set_my_commands([BotCommand("start", "Start"), BotCommand("menu", "Your account")])
    await bot.set_my_commands(
        [BotCommand("start", "Starten"), BotCommand("menu", "Dein Konto")],
        scope=BotCommandScopeAllPrivateChats(),
        language_code="de",
    )


def add_handlers(
    application: Application[Any, Any, Any, Any, Any, Any], agents: int | None = None
) -> None:
    """Register the sample handlers; ``agents`` is the support forum's chat id."""
    application.bot_data["agents"] = agents
    private = filters.ChatType.PRIVATE
    application.add_handler(CommandHandler("start", start))
    application.add_handler(CommandHandler("menu", menu))
    application.add_handler(CommandHandler("fail", fail))
    application.add_handler(CommandHandler("support", support, filters=private))
    application.add_handler(CallbackQueryHandler(on_button))
    if agents is not None:
        application.add_handler(
            MessageHandler(filters.Chat(agents) & filters.IS_TOPIC_MESSAGE, agent_reply)
        )
    application.add_handler(MessageHandler(private & filters.TEXT & ~filters.COMMAND, echo))
    media = filters.PHOTO | filters.Document.ALL | filters.VOICE
    application.add_handler(MessageHandler(private & media, echo_media))


def builder(emulator: TelegramEmulator) -> ApplicationBuilder[Any, Any, Any, Any, Any, Any]:
    """Return an Application builder wired to ``emulator`` in-process."""
    return (
        Application.builder()
        .token(emulator.token)
        .request(EmulatorRequest(emulator))
        .get_updates_request(EmulatorRequest(emulator))
    )
