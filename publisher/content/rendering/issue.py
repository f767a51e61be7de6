"""A rendered issue as the workers use it: stage-1 output, personalised per recipient.

Kept apart from the layout (Jinja2, premailer, Markdown) so a worker, which
only personalises issues rendered at publish time, never imports the stage-1
renderer: that would cost each worker about 10 MB for nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from publisher.content.rendering.personalize import CompiledTemplate, Recipient
from publisher.core.message import JsonText


@dataclass(frozen=True)
class RenderedIssue:
    """Stage-1 output: inlined HTML and text with placeholders, and their nonce."""

    html: str
    text: str
    nonce: str

    @cached_property
    def _compiled(self) -> tuple[CompiledTemplate, CompiledTemplate]:
        return CompiledTemplate.compile(self.html, self.nonce), CompiledTemplate.compile(self.text, self.nonce)

    @property
    def fields(self) -> set[str]:
        """Every personal field the issue uses (subscriber attributes included)."""
        html, text = self._compiled
        return html.fields | text.fields

    def personalise(self, recipient: Recipient) -> tuple[str, str]:
        """Return (html, text) for one recipient: stage 2, a join over pre-split chunks."""
        html, text = self._compiled
        return html.render(recipient, html=True), text.render(recipient, html=False)

    def personalise_json(self, recipient: Recipient) -> tuple[JsonText, JsonText]:
        """``personalise`` with each body written as a JSON string; orjson.JSONEncodeError for a value JSON cannot carry."""
        html, text = self._compiled
        return html.render_json(recipient, html=True), text.render_json(recipient, html=False)
