"""The HTML parser against Telegram's rules, including properties over arbitrary text."""

from __future__ import annotations

import html

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telegram_emulator.html import EntityParseError, _parse_plain, _Parser, parse_html
from telegram_emulator.text import bot_command_entities, trim, utf16_len


@given(st.text())
def test_escaped_text_is_shown_verbatim(text: str) -> None:
    assert parse_html(html.escape(text)) == (text, [])


@given(st.text(), st.text(min_size=1), st.text())
def test_entity_offsets_count_utf16_units(before: str, inside: str, after: str) -> None:
    source = f"{html.escape(before)}<b>{html.escape(inside)}</b>{html.escape(after)}"
    text, entities = parse_html(source)
    assert text == before + inside + after
    assert entities == [{"type": "bold", "offset": utf16_len(before), "length": utf16_len(inside)}]


@given(st.text(alphabet="<>/ab &;\"'=", max_size=30))
def test_any_input_either_parses_or_fails_with_telegram_wording(source: str) -> None:
    try:
        text, entities = parse_html(source)
    except EntityParseError as exc:
        assert str(exc)[0].isupper()
    else:
        assert all(
            e["offset"] >= 0 and e["offset"] + e["length"] <= utf16_len(text) for e in entities
        )


PIECES = st.sampled_from(
    ["<b>", "</b>", "<i>", "</i>", "<u>", "</u>", "<B>", "<b >", "<code>", "</code>", "&lt;",
     "&amp;lt;", "&gt", "&LT;", "&#60;", "&quot;", "&", "<", ">", " ", "\n", "x", "é", "📜"]
)  # fmt: skip


@given(st.lists(PIECES, max_size=14))
def test_the_fast_path_agrees_with_the_full_parser(pieces: list[str]) -> None:
    source = "".join(pieces)
    fast = _parse_plain(source)
    try:
        full = _Parser(source).run()
    except EntityParseError:
        assert fast is None  # errors are always worded by the full parser
    else:
        assert fast is None or fast == full


def test_the_fast_path_takes_the_products_messages() -> None:
    source = "📜 <b>Your history</b>\n<b>1 Nov 2026, 12:00</b> · +100 points (a &lt;b&gt; &amp; c)"
    assert _parse_plain(source) == _Parser(source).run()
    assert _parse_plain(source) is not None


def test_nesting_and_links() -> None:
    text, entities = parse_html(
        '<b>bold <i>both</i></b> <a href="https://x.io/">x</a> <a>y.com</a>'
    )
    assert text == "bold both x y.com"
    assert entities == [
        {"type": "bold", "offset": 0, "length": 9},
        {"type": "italic", "offset": 5, "length": 4},
        {"type": "text_link", "offset": 10, "length": 1, "url": "https://x.io/"},
        {"type": "text_link", "offset": 12, "length": 5, "url": "http://y.com"},
    ]


def test_entities_and_attributes() -> None:
    assert parse_html("&lt;&#65;&#x42;&quot;&amp&copy;") == ('<AB"&&copy;', [])
    assert parse_html("<B>x</B >") == ("x", [{"type": "bold", "offset": 0, "length": 1}])
    assert parse_html("<blockquote expandable>q</blockquote>")[1][0]["type"] == (
        "expandable_blockquote"
    )
    _, entities = parse_html('<code class="language-py">c</code>')
    assert entities == [{"type": "code", "offset": 0, "length": 1}]  # a language needs <pre>
    with pytest.raises(EntityParseError, match="Invalid custom emoji identifier specified"):
        parse_html('<tg-emoji emoji-id="abc">x</tg-emoji>')
    with pytest.raises(EntityParseError, match=r'Expected equal sign .* tag "a" at byte offset 0'):
        parse_html("<a href>x</a>")


def test_empty_tags_make_no_entity() -> None:
    assert parse_html("<b></b>x") == ("x", [])


def test_bot_commands_follow_telegrams_rules() -> None:
    def commands(text: str) -> list[str]:
        return [
            text.encode("utf-16-le")[2 * e["offset"] : 2 * (e["offset"] + e["length"])].decode(
                "utf-16-le"
            )
            for e in bot_command_entities(text)
        ]

    assert commands("/start abc") == ["/start"]
    assert commands("😀 /start@loyalty_test_bot x /help") == ["/start@loyalty_test_bot", "/help"]
    assert commands("a/b /c/d /e@xy /ok") == ["/ok"]
    assert commands("http://x.io/path") == []


def test_trim_moves_entities() -> None:
    text, entities = trim("  😀 hi  ", [{"type": "bold", "offset": 2, "length": 5}])
    assert text == "😀 hi"
    assert entities == [{"type": "bold", "offset": 0, "length": 5}]
