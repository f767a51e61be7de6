"""Batch factoring for providers that take one body per call (SendGrid, Mailgun).

Our bodies differ per recipient (greeting, signed links), but such a provider
sends one body for the whole call with a per-recipient substitution in each
gap. ``factor`` splits the batch's bodies into the text they share and each
recipient's own parts, exactly: the shared text plus the parts rebuild every
body byte for byte. ``send_grouped`` splits a batch into the calls it needs
(by sender and campaign, then halved until the parts fit the provider's limits).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

from publisher.core.message import OutgoingEmail
from publisher.core.outcomes import SendResult
from workers.providers.base import Provider

# MAX_PART: longest personal part looked for (a name, a
# signed URL); ANCHOR: characters all texts must share after one for the shared text to resume.
MAX_PART, ANCHOR = 2048, 24


@dataclass(frozen=True)
class Template:
    """Texts split into the literals they share and each text's own parts in between.

    ``texts[k] == literals[0] + parts[k][0] + literals[1] + … + literals[-1]``.
    """

    literals: tuple[str, ...]
    parts: tuple[tuple[str, ...], ...]

    @property
    def slots(self) -> int:
        return len(self.literals) - 1

    def join(self, names: Sequence[str]) -> str:
        return self.literals[0] + "".join(name + literal for name, literal in zip(names, self.literals[1:], strict=True))


def factor(texts: Sequence[str]) -> Template:
    """Split texts into shared literals and per-text parts, exactly for any input.

    Texts rendered from one template get short parts; texts that share nothing
    get one part holding each text's rest (callers check the sizes).
    """
    reference = texts[0]
    positions = [0] * len(texts)
    literals: list[str] = []
    parts: list[list[str]] = [[] for _ in texts]
    while True:
        length = len(reference) - positions[0]
        for text, position in zip(texts[1:], positions[1:], strict=True):
            length = _common(reference, positions[0], text, position, length)
        literals.append(reference[positions[0] : positions[0] + length])
        positions = [position + length for position in positions]
        if all(position == len(text) for text, position in zip(texts, positions, strict=True)):
            return Template(tuple(literals), tuple(tuple(own) for own in parts))
        ends = _resume(texts, positions)
        for own, text, start, end in zip(parts, texts, positions, ends, strict=True):
            own.append(text[start:end])
        positions = ends


def _common(a: str, i: int, b: str, j: int, limit: int) -> int:
    """Length of the common prefix of a[i:] and b[j:], at most ``limit``; work grows with the answer."""
    limit = min(limit, len(b) - j)
    low, step = 0, 64
    while low < limit:
        high = min(limit, low + step)
        if a[i + low : i + high] != b[j + low : j + high]:
            break
        low, step = high, step * 2
    else:
        return limit
    while high - low > 1:  # a[i:i+low] == b[j:j+low]; a[i:i+high] != b[j:j+high]
        middle = (low + high) // 2
        if a[i + low : i + middle] == b[j + low : j + middle]:
            low = middle
        else:
            high = middle
    return low


def _resume(texts: Sequence[str], positions: list[int]) -> list[int]:
    """Where the shared text resumes in each text: the first reference anchor all texts hold nearby."""
    reference, start = texts[0], positions[0]
    order = list(range(1, len(texts)))
    for skip in range(min(MAX_PART, len(reference) - start) + 1):
        anchor = reference[start + skip : start + skip + ANCHOR]
        tail = start + skip + ANCHOR >= len(reference)
        ends = {0: start + skip}
        for k in order:
            text, position = texts[k], positions[k]
            if tail:
                end = len(text) - len(anchor)
                found = position <= end <= position + MAX_PART and text.endswith(anchor)
            else:
                end = text.find(anchor, position, position + MAX_PART + ANCHOR)
                found = end >= 0
            if not found:
                order.remove(k)
                order.insert(0, k)  # the text that failed this anchor likely fails the next one too
                break
            ends[k] = end
        else:
            return [ends[k] for k in range(len(texts))]
    return [len(text) for text in texts]


def send_grouped(
    provider: Provider,
    send: Callable[[list[OutgoingEmail], str], list[SendResult]],
    emails: list[OutgoingEmail],
    batch_key: str,
    key: Callable[[OutgoingEmail], Hashable],
    fits: Callable[[list[OutgoingEmail]], bool],
) -> list[SendResult]:
    """Run ``send`` (the base sequence) per call: the batch split by ``key``, then halved until it ``fits``."""
    if len(emails) > provider.max_batch_size:
        raise ValueError(f"{provider.name} takes at most {provider.max_batch_size} emails per call, got {len(emails)}")

    def halves(group: list[OutgoingEmail]) -> list[list[OutgoingEmail]]:
        middle = len(group) // 2
        return [group] if len(group) <= 1 or fits(group) else halves(group[:middle]) + halves(group[middle:])

    groups: dict[Hashable, list[OutgoingEmail]] = {}
    for email in emails:
        groups.setdefault(key(email), []).append(email)
    results: dict[int, SendResult] = {}
    for index, call in enumerate(part for group in groups.values() for part in halves(group)):
        for result in send(call, batch_key if index == 0 else f"{batch_key}-{index}"):
            results[result.delivery_id] = result
    return [results[email.delivery_id] for email in emails]
