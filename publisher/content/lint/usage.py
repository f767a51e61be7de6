"""Which caniemail features a document uses: CSS properties, at-rules, media features, elements, attributes.

Features are named by their caniemail slug (the feature file's name), so the
mapping from what the HTML says to a slug lives here and nowhere else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache

from publisher.content.lint.caniemail import features
from publisher.content.lint.css import AtRule, Declaration
from publisher.content.lint.document import Document, Element, describe

#: Properties whose longhands caniemail files under the shorthand
#: (``padding-left`` → ``css-padding``).
#: ``font`` is left out: ``css-font`` is about the shorthand itself, not ``font-family``.
SHORTHANDS = frozenset({"padding", "margin", "border", "background", "outline", "list-style", "text-decoration"})
#: Media features with their own caniemail file; the rest count as plain ``@media``.
MEDIA_FEATURES: Mapping[str, str] = {
    "prefers-color-scheme": "css-at-media-prefers-color-scheme",
    "prefers-reduced-motion": "css-at-media-prefers-reduced-motion",
    "orientation": "css-at-media-orientation",
    "hover": "css-at-media-hover",
    "any-hover": "css-at-media-hover",
}
#: Value functions with their own caniemail file.
VALUE_FUNCTIONS: Mapping[str, str] = {
    "rgb": "css-rgb",
    "rgba": "css-rgba",
    "linear-gradient": "css-linear-gradient",
    "radial-gradient": "css-radial-gradient",
    "conic-gradient": "css-conic-gradient",
    "calc": "css-unit-calc",
    "var": "css-variables",
    "min": "css-function-min",
    "max": "css-function-max",
    "clamp": "css-function-clamp",
    "light-dark": "css-function-light-dark",
}
DISPLAY_VALUES: Mapping[str, str] = {
    "none": "css-display-none",
    "flex": "css-display-flex",
    "inline-flex": "css-display-flex",
    "grid": "css-display-grid",
    "inline-grid": "css-display-grid",
}
#: Elements caniemail files in a group rather than as ``html-<tag>``.
ELEMENT_GROUPS: Mapping[str, str] = {
    **{f"h{level}": "html-h1-h6" for level in range(1, 7)},
    **dict.fromkeys(("ul", "ol", "li", "dl", "dt", "dd"), "html-lists"),
    **dict.fromkeys(
        ("article", "aside", "details", "figcaption", "figure", "footer", "header", "main", "mark", "nav", "section", "summary", "time"),
        "html-semantics",
    ),
    **dict.fromkeys(("map", "area"), "html-image-maps"),
    "address": "html-address",
}
IMAGE_FORMATS: Mapping[str, str] = {"jpeg": "image-jpg", "jpg": "image-jpg", "svg": "image-svg"}

_FUNCTION = re.compile(r"([a-z-]+)\(", re.IGNORECASE)
_ATTRIBUTE_TITLE = re.compile(r"([a-z-]+)(?: and ([a-z-]+))? attributes?")
_DEVICE_PIXEL_RATIO = re.compile(r"(-webkit-)?(min-|max-)?device-pixel-ratio")


@dataclass
class Usage:
    """Where each feature is used: slug → locations, and whether every use is inside the preheader."""

    places: dict[str, list[str]] = field(default_factory=dict)
    outside_preheader: set[str] = field(default_factory=set)
    #: Features used somewhere other than ``height: auto`` on an image with width and height attributes.
    beyond_fluid_images: set[str] = field(default_factory=set)
    #: CSS properties caniemail has no file for (``color``, ``mso-hide``, …).
    unmapped: set[str] = field(default_factory=set)

    def add(self, slug: str | None, where: str, *, preheader: bool = False, fluid_image: bool = False) -> None:
        if slug is None or slug not in features():
            return
        places = self.places.setdefault(slug, [])
        if where not in places:
            places.append(where)
        if not preheader:
            self.outside_preheader.add(slug)
        if not fluid_image:
            self.beyond_fluid_images.add(slug)

    def only_in_preheader(self, slug: str) -> bool:
        return slug in self.places and slug not in self.outside_preheader

    def only_on_fluid_images(self, slug: str) -> bool:
        return slug in self.places and slug not in self.beyond_fluid_images


def collect(doc: Document) -> Usage:
    """List every caniemail feature ``doc`` uses, with where."""
    usage = Usage()
    if doc.doctype:
        usage.add("html-doctype", "<!DOCTYPE>")
    for index, sheet in enumerate(doc.stylesheets, 1):
        where = f"<style> block {index}"
        for at_rule in sheet.at_rules:
            _add_at_rule(usage, at_rule, where)
        for declaration, rule in sheet.declarations:
            prefix = f"@media {rule.prelude} " if rule is not None and rule.name == "media" else ""
            _add_declaration(usage, declaration, f"{where}: {prefix}{declaration.context}".rstrip())
    for element in doc.elements():
        _add_element(usage, doc, element)
    return usage


def _add_at_rule(usage: Usage, rule: AtRule, where: str) -> None:
    name = "keyframes" if rule.name.endswith("keyframes") else rule.name
    where = f"{where}: @{rule.name} {rule.prelude}".rstrip()
    usage.add(f"css-at-{name}", where)
    if rule.name != "media":
        return
    for feature, _value in rule.media_features():
        slug = "css-at-media-device-pixel-ratio" if _DEVICE_PIXEL_RATIO.fullmatch(feature) else MEDIA_FEATURES.get(feature)
        usage.add(slug, where)


def _add_declaration(usage: Usage, declaration: Declaration, where: str, *, preheader: bool = False, fluid_image: bool = False) -> None:
    slug = property_feature(declaration.name)
    if slug is None:
        usage.unmapped.add(declaration.name)
    usage.add(slug, where, preheader=preheader, fluid_image=fluid_image)
    if declaration.important:
        usage.add("css-important", where, preheader=preheader)
    if declaration.name == "display":
        usage.add(DISPLAY_VALUES.get(declaration.value.strip().lower()), where, preheader=preheader)
    for function in _FUNCTION.findall(declaration.value):
        usage.add(VALUE_FUNCTIONS.get(function.lower()), where, preheader=preheader)


def _add_element(usage: Usage, doc: Document, element: Element) -> None:
    where = describe(element)
    preheader = doc.in_preheader(element)
    usage.add(element_feature(element), where, preheader=preheader)
    for attribute in element.attrib:
        usage.add(attribute_features().get(attribute.lower()), where, preheader=preheader)
    sized = element.tag == "img" and (element.get("height") or "").strip().isdigit() and (element.get("width") or "").strip().isdigit()
    for declaration in doc.inline_style(element):
        fluid = sized and declaration.name == "height" and declaration.value.strip().lower() == "auto"
        _add_declaration(usage, declaration, where, preheader=preheader, fluid_image=fluid)
    if element.tag == "meta" and element.get("name") == "color-scheme":
        usage.add("html-meta-color-scheme", where)
    href = element.get("href") or ""
    if element.tag == "a" and href.startswith("#"):
        usage.add("html-anchor-links", where, preheader=preheader)
    if element.tag == "a" and href.startswith("mailto:"):
        usage.add("html-mailto-links", where, preheader=preheader)
    if element.tag == "img":
        usage.add(_image_format(element.get("src") or ""), where, preheader=preheader)


def _image_format(src: str) -> str | None:
    if src.startswith("data:"):
        return "image-base64"
    extension = src.split("?", 1)[0].split("#", 1)[0].rsplit(".", 1)[-1].lower()
    return IMAGE_FORMATS.get(extension, f"image-{extension}")


def element_feature(element: Element) -> str | None:
    """Map an element to its caniemail slug, if caniemail has one."""
    tag = element.tag.lower()
    if tag in ("input", "button"):
        default = "text" if tag == "input" else "submit"
        return f"html-{tag}-{(element.get('type') or default).lower()}"
    if tag in ELEMENT_GROUPS:
        return ELEMENT_GROUPS[tag]
    feature = features().get(f"html-{tag}")
    # html-dir, html-hidden, …: same slug shape, but about an attribute.
    if feature is None or f"<{tag}" not in feature.title:
        return None
    return feature.slug


@cache
def attribute_features() -> Mapping[str, str]:
    """Map attribute names to caniemail slugs, read from the "<name> attribute" feature titles."""
    mapping: dict[str, str] = {}
    for slug, feature in features().items():
        match = _ATTRIBUTE_TITLE.fullmatch(feature.title)
        if match:
            mapping.update({name: slug for name in match.groups() if name})
    return mapping


@cache
def property_feature(name: str) -> str | None:
    """Map a CSS property to its caniemail slug: its own file, a file that lists it, or its shorthand's."""
    known = features()
    if f"css-{name}" in known:
        return f"css-{name}"
    listed = _listed_properties().get(name)
    if listed is not None:
        return listed
    if name.endswith("-radius"):
        return "css-border-radius"
    parts = name.split("-")
    for cut in range(len(parts) - 1, 0, -1):
        base = "-".join(parts[:cut])
        if base in SHORTHANDS and f"css-{base}" in known:
            return f"css-{base}"
    return None


@cache
def _listed_properties() -> Mapping[str, str]:
    # caniemail lists the longhands a file covers among its keywords
    # ("border-left", "margin-top"); plain words there ("color", "table")
    # are search terms, not properties, so only hyphenated ones count.
    listed: dict[str, str] = {}
    for slug, feature in features().items():
        if slug.startswith("css-"):
            for keyword in feature.keywords:
                if "-" in keyword and not keyword.startswith("pseudo-"):
                    listed.setdefault(keyword, slug)
    return listed
