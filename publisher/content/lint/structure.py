"""The document skeleton every issue needs: doctype, language, meta tags, preheader, mobile and dark-mode CSS."""

from __future__ import annotations

from publisher.content.lint.css import AtRule
from publisher.content.lint.document import Document, describe
from publisher.content.lint.report import Finding, Severity

CHECK = "structure"
#: Characters the layout pads the preheader with so that inbox previews stop after it.
PREHEADER_FILLER = "\u034f\u200c\u00a0\u2007\u00ad\u200b\ufeff"


def check_structure(doc: Document) -> list[Finding]:
    """Require the skeleton parts; each missing one is an error."""
    problems = [
        *_doctype(doc),
        *_language(doc),
        *_meta(doc),
        *_title(doc),
        *_preheader(doc),
        *_mobile(doc),
        *_media_important(doc),
        *_dark_mode(doc),
    ]
    if problems:
        return problems
    return [Finding(CHECK, Severity.PASS, "doctype, lang, charset, viewport, title, preheader, mobile and dark-mode CSS present")]


def _error(message: str, where: str = "") -> Finding:
    return Finding(CHECK, Severity.ERROR, message, where)


def _doctype(doc: Document) -> list[Finding]:
    if not doc.doctype:
        return [_error("no <!DOCTYPE html>: clients render in quirks mode")]
    return []


def _language(doc: Document) -> list[Finding]:
    if not (doc.root.get("lang") or "").strip():
        return [_error("<html> has no lang attribute: screen readers guess the language")]
    return []


def _meta(doc: Document) -> list[Finding]:
    metas = doc.elements("meta")
    findings: list[Finding] = []
    charset = [meta for meta in metas if (meta.get("charset") or "").lower() in ("utf-8", "utf8")]
    content_type = [meta for meta in metas if "charset=utf-8" in (meta.get("content") or "").lower().replace(" ", "")]
    if not (charset or content_type):
        findings.append(_error('no <meta charset="utf-8">'))
    if not any(meta.get("name") == "viewport" for meta in metas):
        findings.append(_error('no <meta name="viewport">: phones render the email zoomed out'))
    return findings


def _title(doc: Document) -> list[Finding]:
    titles = doc.elements("title")
    if not titles or not titles[0].text_content().strip():
        return [_error("no <title> or an empty one: shown by view-in-browser and some clients")]
    return []


def _preheader(doc: Document) -> list[Finding]:
    preheader = doc.preheader
    if preheader is None:
        return [_error("<body> has no elements")]
    hidden = doc.inline_value(preheader, "display") == "none" or (
        (doc.inline_value(preheader, "max-height") or "").strip() in ("0", "0px") and doc.inline_value(preheader, "opacity") == "0"
    )
    if not hidden:
        return [_error("the first element of <body> is not a hidden preheader: inboxes preview the masthead instead", describe(preheader))]
    text = "".join(char for char in preheader.text_content() if char not in PREHEADER_FILLER).strip()
    if not text:
        return [Finding(CHECK, Severity.WARNING, "the preheader is empty: set 'preheader' in the recap", describe(preheader))]
    return []


def _media_rules(doc: Document) -> list[tuple[int, AtRule]]:
    return [(index, rule) for index, sheet in enumerate(doc.stylesheets, 1) for rule in sheet.at_rules if rule.name == "media"]


def _mobile(doc: Document) -> list[Finding]:
    mobile = [rule for _, rule in _media_rules(doc) if any(name == "max-width" for name, _ in rule.media_features())]
    if not mobile:
        return [_error("no @media (max-width: …) block: no mobile layout")]
    return []


def _media_important(doc: Document) -> list[Finding]:
    # Inlined styles beat a media query (mobile or dark mode) unless it says
    # !important; premailer's default strip_important once removed them all.
    return [
        _error(
            f"{declaration.name}: {declaration.value} lacks !important: the inlined style wins",
            f"<style> {index}: @media {rule.prelude} {declaration.context}",
        )
        for index, sheet in enumerate(doc.stylesheets, 1)
        for declaration, rule in sheet.declarations
        if rule is not None and rule.name == "media" and not declaration.important
    ]


def _dark_mode(doc: Document) -> list[Finding]:
    findings: list[Finding] = []
    schemes = [meta for meta in doc.elements("meta") if meta.get("name") == "color-scheme"]
    if not schemes or "dark" not in (schemes[0].get("content") or ""):
        findings.append(_error('no <meta name="color-scheme" content="light dark">: clients invert colours their own way'))
    dark = [rule for _, rule in _media_rules(doc) if ("prefers-color-scheme", "dark") in rule.media_features()]
    if not dark:
        findings.append(_error("no @media (prefers-color-scheme: dark) rule: no designed dark mode"))
    return findings
