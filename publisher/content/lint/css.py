"""Read CSS with cssutils into plain values: declarations, and the at-rules around them."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

import cssutils  # type: ignore[import-untyped]  # cssutils ships no type hints

#: At-rules cssutils does not model; their bodies are scanned for declarations.
_UNKNOWN_AT_RULE = re.compile(r"@(-[a-z]+-)?([a-z-]+)")
# A declaration follows "{" or ";" and its value runs to ";" or "}": "a:hover {" is a selector.
_DECLARATION = re.compile(r"[{;]\s*(-?[a-z][a-z-]*)\s*:\s*([^;{}]*)(?=[;}]|\Z)", re.IGNORECASE)
_MEDIA_FEATURE = re.compile(r"\(\s*([-a-z]+)\s*(?::\s*([^)]*))?\)", re.IGNORECASE)


@dataclass(frozen=True)
class Declaration:
    """One ``name: value`` pair; ``context`` names the selector or at-rule it sits in."""

    name: str
    value: str
    important: bool = False
    context: str = ""


@dataclass(frozen=True)
class AtRule:
    """An at-rule (``media``, ``font-face``, ``supports``, ``keyframes``, …) and its prelude."""

    name: str
    prelude: str

    def media_features(self) -> list[tuple[str, str]]:
        """Return the ``(feature, value)`` pairs of a media query, e.g. ``("max-width", "620px")``."""
        return [(name.lower(), value.strip()) for name, value in _MEDIA_FEATURE.findall(self.prelude)]


@dataclass(frozen=True)
class StyleSheet:
    """A ``<style>`` block: its size, at-rules and every declaration with the at-rule it sits in."""

    text: str
    at_rules: tuple[AtRule, ...]
    declarations: tuple[tuple[Declaration, AtRule | None], ...]

    @property
    def size(self) -> int:
        return len(self.text.encode("utf-8"))


@cache
def _parser() -> Any:
    # mso-* and other client-specific properties are valid email CSS that
    # cssutils does not know: it would log a warning for each, and validating
    # adds nothing a lint check uses, so both are off.
    return cssutils.CSSParser(loglevel=logging.CRITICAL, raiseExceptions=False, validate=False)


@lru_cache(maxsize=4096)
def parse_declarations(style: str) -> tuple[Declaration, ...]:
    """Parse an inline ``style`` attribute."""
    if not style.strip():
        return ()
    return _declarations(_parser().parseStyle(style), context="")


# The <style> block comes from the layout, not the recap, so it is the same
# text on every lint of a long-running process (a console linting as the
# author types): parse it once. A StyleSheet is frozen and holds tuples only.
@lru_cache(maxsize=16)
def parse_stylesheet(text: str) -> StyleSheet:
    """Parse the text of one ``<style>`` block."""
    sheet = _parser().parseString(text)
    at_rules: list[AtRule] = []
    declarations: list[tuple[Declaration, AtRule | None]] = []
    for rule in sheet.cssRules:
        if rule.type == rule.STYLE_RULE:
            declarations.extend((item, None) for item in _declarations(rule.style, rule.selectorText))
        elif rule.type == rule.MEDIA_RULE:
            media = AtRule("media", str(rule.media.mediaText))
            at_rules.append(media)
            for inner in rule.cssRules:
                if inner.type == inner.STYLE_RULE:
                    declarations.extend((item, media) for item in _declarations(inner.style, inner.selectorText))
        elif rule.type == rule.FONT_FACE_RULE:
            font_face = AtRule("font-face", "")
            at_rules.append(font_face)
            declarations.extend((item, font_face) for item in _declarations(rule.style, "@font-face"))
        elif rule.type == rule.IMPORT_RULE:
            at_rules.append(AtRule("import", str(rule.href)))
        elif rule.type == rule.UNKNOWN_RULE:
            unknown = _unknown_rule(str(rule.cssText))
            if unknown is not None:
                at_rules.append(unknown[0])
                declarations.extend((item, unknown[0]) for item in unknown[1])
    return StyleSheet(text=text, at_rules=tuple(at_rules), declarations=tuple(declarations))


def _declarations(style: Any, context: str) -> tuple[Declaration, ...]:
    return tuple(
        Declaration(name=str(item.name).lower(), value=str(item.value), important=bool(item.priority), context=str(context))
        for item in style.getProperties(all=True)
    )


def _unknown_rule(text: str) -> tuple[AtRule, list[Declaration]] | None:
    # cssutils keeps @supports and @keyframes as opaque text: name the rule
    # from its prelude and pick the declarations out of its body.
    match = _UNKNOWN_AT_RULE.match(text.strip())
    if match is None:
        return None
    prelude, _, body = text.strip()[match.end() :].partition("{")
    rule = AtRule(match.group(2).lower(), prelude.strip())
    found = [
        Declaration(
            name=name.lower(),
            value=value.strip().removesuffix("!important").strip(),
            important="!important" in value,
            context=f"@{rule.name}",
        )
        for name, value in _DECLARATION.findall("{" + body)
    ]
    return rule, found
