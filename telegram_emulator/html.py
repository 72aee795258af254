"""Telegram's HTML subset: validate like the Bot API does and split into text and entities.

The rules and error messages follow tdlib's ``parse_html`` (what the Bot API runs when
``parse_mode=HTML``): only the documented tags, attributes parsed loosely, entities ``&lt;``
``&gt;`` ``&amp;`` ``&quot;`` and numeric references decoded, anything else kept literally.
Errors carry the byte offset of the offending tag, as Telegram's do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from telegram_emulator.text import utf16_len

ALLOWED_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "s",
        "strike",
        "del",
        "u",
        "ins",
        "tg-spoiler",
        "tg-emoji",
        "span",
        "pre",
        "code",
        "blockquote",
    }
)
_SIMPLE = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
}
_SPACES = " \t\r\n\v\f"
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_MARKUP = re.compile("[<&]")  # where plain text stops: a tag or a character reference
# Bare lowercase tags that map to one entity each, as the product writes them.
_PLAIN_TAG = re.compile(r"<(/?)(b|strong|i|em|u|ins|s|strike|del|tg-spoiler)>")
_NAMED_REFERENCE = re.compile("&(lt|gt|amp|quot);")
_SURROGATE = re.compile("[\ud800-\udfff]")


class EntityParseError(ValueError):
    """The HTML is not valid Telegram HTML; the message is Telegram's own wording."""


@dataclass
class _Open:
    tag: str
    argument: str
    offset: int  # UTF-16 offset in the visible text where the tag opened
    start: int  # index into the output pieces, to read a link's own text
    expandable: bool = False


def parse_html(source: str) -> tuple[str, list[dict[str, Any]]]:
    """Return the visible text and the entities of ``source``, or raise EntityParseError."""
    simple = _parse_plain(source)
    return simple if simple is not None else _Parser(source).run()


def _parse_plain(source: str) -> tuple[str, list[dict[str, Any]]] | None:
    """Parse the common case fast: text, bare tags like ``<b>``, the named references.

    Anything else returns None for the full parser, which also words the errors.
    """
    parts = _PLAIN_TAG.split(source)  # text, "/" or "", tag name, text, ...
    for index in range(0, len(parts), 3):
        text = parts[index]
        if "<" in text:
            return None
        if "&" in text:
            if "&" in _NAMED_REFERENCE.sub("", text):
                return None  # a numeric reference or a bare "&"
            parts[index] = _NAMED_REFERENCE.sub(lambda m: _NAMED[m[1]], text)
    texts = parts[::3]
    stack: list[tuple[str, int]] = []
    entities: list[dict[str, Any]] = []
    offset = utf16_len(texts[0])
    for index in range(1, len(parts), 3):
        closing, tag = parts[index], parts[index + 1]
        if not closing:
            stack.append((tag, offset))
        elif not stack or stack[-1][0] != tag:
            return None
        else:
            opened_at = stack.pop()[1]
            if offset > opened_at:
                entities.append(
                    {"type": _SIMPLE[tag], "offset": opened_at, "length": offset - opened_at}
                )
        offset += utf16_len(parts[index + 2])
    text = "".join(texts)
    if stack or _SURROGATE.search(text):
        return None
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return text, entities


class _Parser:
    def __init__(self, source: str) -> None:
        self.src = source
        self.n = len(source)
        self.out: list[str] = []
        self.utf16 = 0
        self.stack: list[_Open] = []
        self.entities: list[dict[str, Any]] = []

    def byte(self, index: int) -> int:
        """Return the UTF-8 byte offset of character ``index``, as Telegram reports it."""
        return len(self.src[:index].encode("utf-8"))

    def emit(self, chars: str) -> None:
        """Append visible characters and advance the UTF-16 offset."""
        self.out.append(chars)
        self.utf16 += utf16_len(chars)

    def skip_spaces(self, i: int) -> int:
        """Return the index of the next non-space character."""
        while i < self.n and self.src[i] in _SPACES:
            i += 1
        return i

    def run(self) -> tuple[str, list[dict[str, Any]]]:
        """Parse the whole source; return the visible text and sorted entities."""
        i = 0
        while i < self.n:
            char = self.src[i]
            if char == "&":
                decoded, end = _decode_entity(self.src, i)
                if decoded is not None:
                    self.emit(decoded)
                    i = end
                    continue
            if char != "<":
                # Plain text up to the next tag or reference, in one piece (an "&" that is not
                # a reference is plain text too).
                found = _MARKUP.search(self.src, i + 1)
                end = found.start() if found else self.n
                self.emit(self.src[i:end])
                i = end
                continue
            closing = i + 1 < self.n and self.src[i + 1] == "/"
            i = self.end_tag(i) if closing else self.start_tag(i)
        if self.stack:
            raise EntityParseError(
                f'Can\'t find end tag corresponding to start tag "{self.stack[-1].tag}"'
            )
        text = "".join(self.out)
        if _SURROGATE.search(text):
            raise EntityParseError(
                "Text contains invalid Unicode characters after decoding HTML entities, "
                "check for unmatched surrogate code units"
            )
        for entity in self.entities:
            if entity["type"] == "code":
                entity.pop("language", None)  # a language only means something on a <pre>
        self.entities.sort(key=lambda e: (e["offset"], -e["length"]))
        return text, self.entities

    def start_tag(self, begin: int) -> int:
        """Parse an opening tag at ``begin``; return the index after it."""
        i = begin + 1
        while i < self.n and self.src[i] not in _SPACES and self.src[i] != ">":
            i += 1
        if i >= self.n:
            raise EntityParseError(f"Unclosed start tag at byte offset {self.byte(begin)}")
        tag = self.src[begin + 1 : i].lower()
        if tag not in ALLOWED_TAGS:
            raise EntityParseError(
                f'Unsupported start tag "{tag}" at byte offset {self.byte(begin)}'
            )
        opened = _Open(tag=tag, argument="", offset=self.utf16, start=len(self.out))
        i = self.attributes(begin, i, opened)
        if tag == "span" and opened.argument != "spoiler":
            raise EntityParseError(
                f'Tag "span" must have class "tg-spoiler" at byte offset {self.byte(begin)}'
            )
        self.stack.append(opened)
        return i + 1  # past ">"

    def attributes(self, begin: int, i: int, opened: _Open) -> int:
        """Parse attributes up to the closing ">"; return its index."""
        tag = opened.tag
        while True:
            i = self.skip_spaces(i)
            if i >= self.n:
                raise EntityParseError(f"Unclosed start tag at byte offset {self.byte(begin)}")
            if self.src[i] == ">":
                return i
            name_begin = i
            while i < self.n and self.src[i] not in _SPACES and self.src[i] not in "=>":
                i += 1
            name = self.src[name_begin:i]
            if not name:
                raise EntityParseError(
                    f'Empty attribute name in the tag "{tag}" at byte offset {self.byte(begin)}'
                )
            i = self.skip_spaces(i)
            if i >= self.n or self.src[i] != "=":
                if tag == "blockquote" and name.lower() == "expandable":
                    opened.expandable = True  # the one attribute Telegram takes without a value
                    continue
                raise EntityParseError(
                    "Expected equal sign in declaration of an attribute of the tag "
                    f'"{tag}" at byte offset {self.byte(begin)}'
                )
            i = self.skip_spaces(i + 1)
            if i >= self.n:
                raise EntityParseError(
                    f'Unclosed start tag "{tag}" at byte offset {self.byte(begin)}'
                )
            value, i = self.attribute_value(i)
            if i >= self.n:
                raise EntityParseError(f"Unclosed start tag at byte offset {self.byte(begin)}")
            self.take_attribute(opened, name, value)

    def attribute_value(self, i: int) -> tuple[str, int]:
        """Parse a quoted or bare attribute value; return it and the next index."""
        quote = self.src[i]
        if quote not in "'\"":
            # An unquoted name token: letters, digits, periods and hyphens, case-insensitive.
            token_begin = i
            while i < self.n and (_is_ascii_alnum(self.src[i]) or self.src[i] in ".-"):
                i += 1
            if i < self.n and self.src[i] not in _SPACES and self.src[i] != ">":
                raise EntityParseError(
                    f"Unexpected end of name token at byte offset {self.byte(token_begin)}"
                )
            return self.src[token_begin:i].lower(), i
        i += 1
        chars: list[str] = []
        while i < self.n and self.src[i] != quote:
            if self.src[i] == "&":
                decoded, end = _decode_entity(self.src, i)
                if decoded is not None:
                    chars.append(decoded)
                    i = end
                    continue
            chars.append(self.src[i])
            i += 1
        if i < self.n:
            i += 1  # the closing quote
        return "".join(chars), i

    @staticmethod
    def take_attribute(opened: _Open, name: str, value: str) -> None:
        """Keep the attributes Telegram reads; ignore the rest, as it does."""
        tag = opened.tag
        if tag == "a" and name == "href":
            opened.argument = value
        elif tag == "code" and name == "class" and value.startswith("language-"):
            opened.argument = value[len("language-") :]
        elif tag == "span" and name == "class" and value.startswith("tg-"):
            opened.argument = value[len("tg-") :]
        elif tag == "tg-emoji" and name == "emoji-id":
            opened.argument = value

    def end_tag(self, begin: int) -> int:
        """Parse a closing tag at ``begin``; return the index after it."""
        if not self.stack:
            raise EntityParseError(f"Unexpected end tag at byte offset {self.byte(begin)}")
        i = begin + 2
        while i < self.n and self.src[i] not in _SPACES and self.src[i] != ">":
            i += 1
        name = self.src[begin + 2 : i].lower()
        i = self.skip_spaces(i)
        if i >= self.n or self.src[i] != ">":
            raise EntityParseError(f"Unclosed end tag at byte offset {self.byte(begin)}")
        top = self.stack[-1]
        if name and name != top.tag:
            raise EntityParseError(
                f"Unmatched end tag at byte offset {self.byte(begin)}, "
                f'expected "</{top.tag}>", found "</{name}>"'
            )
        if self.utf16 > top.offset:
            self.close_entity(top)
        self.stack.pop()
        return i + 1

    def close_entity(self, top: _Open) -> None:
        """Turn the innermost open tag into its entity."""
        offset, length = top.offset, self.utf16 - top.offset
        last = self.entities[-1] if self.entities else None
        same_span = last is not None and (last["offset"], last["length"]) == (offset, length)
        if top.tag in _SIMPLE:
            self.entities.append({"type": _SIMPLE[top.tag], "offset": offset, "length": length})
        elif top.tag == "tg-emoji":
            if not top.argument.isdigit() or int(top.argument) == 0:
                raise EntityParseError("Invalid custom emoji identifier specified")
            self.entities.append(
                {
                    "type": "custom_emoji",
                    "offset": offset,
                    "length": length,
                    "custom_emoji_id": top.argument,
                }
            )
        elif top.tag == "a":
            url = top.argument or "".join(self.out[top.start :])
            if "://" not in url and not url.startswith("tg:"):
                url = "http://" + url  # Telegram completes a bare host the same way
            self.entities.append(
                {"type": "text_link", "offset": offset, "length": length, "url": url}
            )
        elif top.tag == "code":
            entity: dict[str, Any] = {"type": "code", "offset": offset, "length": length}
            if top.argument:
                entity["language"] = top.argument  # kept only if a <pre> wraps it, see below
            self.entities.append(entity)
        elif top.tag == "pre":
            if same_span and last is not None and last["type"] == "code":
                # <pre><code class="language-x"> is one "pre" entity with a language.
                self.entities.pop()
                entity = {"type": "pre", "offset": offset, "length": length}
                if last.get("language"):
                    entity["language"] = last["language"]
                self.entities.append(entity)
            else:
                self.entities.append({"type": "pre", "offset": offset, "length": length})
        else:  # blockquote
            kind = "expandable_blockquote" if top.expandable else "blockquote"
            self.entities.append({"type": kind, "offset": offset, "length": length})


def _is_ascii_alnum(char: str) -> bool:
    return char.isascii() and char.isalnum()


def _decode_entity(src: str, pos: int) -> tuple[str | None, int]:
    """Decode the character reference at ``src[pos] == "&"``; None if it is not one."""
    end = pos + 1
    if end < len(src) and src[end] == "#":
        end += 1
        hexadecimal = end < len(src) and src[end] == "x"
        if hexadecimal:
            end += 1
        digits = "0123456789abcdefABCDEF" if hexadecimal else "0123456789"
        start = end
        while end < len(src) and src[end] in digits:
            end += 1
        if end == start or end - pos >= 10:
            return None, pos
        code = int(src[start:end], 16 if hexadecimal else 10)
        if code == 0 or code >= 0x10FFFF:
            return None, pos
        decoded = chr(code)
    else:
        while end < len(src) and src[end].isascii() and src[end].isalpha():
            end += 1
        named = _NAMED.get(src[pos + 1 : end])
        if named is None:
            return None, pos
        decoded = named
    if end < len(src) and src[end] == ";":
        end += 1
    return decoded, end
