"""Keyboards: the Bot API form made directly matches python-telegram-bot's own."""

from __future__ import annotations

import json

import pytest
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from handlers.ui import bot_api_json, button, keyboard, link


def test_a_keyboard_of_our_buttons_serialises_as_ptb_does() -> None:
    made = keyboard(
        [button("« Newer", "hist:a:12"), link("Shop", "https://shop.example/account")],
        [],
        [button("Back", "nav:me")],
    )
    assert made.to_dict() == InlineKeyboardMarkup.to_dict(made)
    assert made.to_dict() == {
        "inline_keyboard": [
            [
                {"text": "« Newer", "callback_data": "hist:a:12"},
                {"text": "Shop", "url": "https://shop.example/account"},
            ],
            [{"text": "Back", "callback_data": "nav:me"}],
        ]
    }


def test_a_foreign_button_falls_back_to_ptbs_serialisation() -> None:
    other = InlineKeyboardButton("Copy", copy_text={"text": "CODE-1"})  # type: ignore[arg-type]
    made = keyboard([button("Back", "nav:me"), other])
    assert made.to_dict()["inline_keyboard"][0][1]["copy_text"] == {"text": "CODE-1"}


def test_equal_buttons_are_shared_and_long_data_is_refused() -> None:
    assert button("Back", "nav:me") is button("Back", "nav:me")
    assert button("Back", "nav:me") == InlineKeyboardButton("Back", callback_data="nav:me")
    with pytest.raises(ValueError, match="too long"):
        button("x", "d" * 65)
    assert button("x", "d" * 64).callback_data == "d" * 64


def test_equal_keyboards_share_one_json_form_equal_to_what_ptb_sends() -> None:
    first = keyboard([button("Back", "menu"), link("Shop", "https://shop.example")])
    again = keyboard([button("Back", "menu"), link("Shop", "https://shop.example")])
    other = keyboard([button("Back", "menu:2"), button("Назад ✓", "back")])
    # Byte for byte what PTB's request encodes for the markup object itself (its
    # RequestParameter: `json.dumps(markup.to_dict())`).
    for markup in (first, other):
        assert bot_api_json(markup) == json.dumps(markup.to_dict())
    assert bot_api_json(again) is bot_api_json(first)
    assert json.loads(bot_api_json(other)) == other.to_dict() != first.to_dict()
