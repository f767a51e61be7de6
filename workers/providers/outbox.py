"""The embedded default: one ``.eml`` file per recipient in a directory.

Files are named after the delivery and written atomically (temporary file,
then rename), so a retried batch rewrites the same files: never a duplicate,
never a half-written message. They hold addresses and working unsubscribe
links, so the directory is 0700 and each file 0600 (``mkstemp``'s mode).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import ClassVar

from publisher.core.errors import TransientDeliveryError
from publisher.core.message import OutgoingEmail
from publisher.core.outcomes import SendResult
from publisher.core.private_files import private_directory
from publisher.core.settings import Settings
from workers.providers.base import Provider


class OutboxProvider(Provider):
    name: ClassVar[str] = "outbox"
    max_batch_size: ClassVar[int] = 1000

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.directory = settings.resolved_outbox_dir

    def prepare(self, emails: list[OutgoingEmail]) -> list[tuple[Path, bytes]]:
        return [(self.directory / f"{email.campaign_id}-{email.delivery_id}.eml", email.to_mime().as_bytes()) for email in emails]

    def transmit(self, payload: list[tuple[Path, bytes]], *, idempotency_key: str) -> list[Path]:
        try:
            private_directory(self.directory)
            for path, data in payload:
                _write_atomically(path, data)
        except OSError as exc:
            raise TransientDeliveryError(f"cannot write to outbox {self.directory}: {exc.strerror}") from exc
        return [path for path, _ in payload]

    def check(self) -> str:
        try:
            private_directory(self.directory)
            probe = self.directory / ".write-check"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise TransientDeliveryError(f"cannot write to {self.directory}: {exc.strerror}") from exc
        return f"{self.directory} is writable"

    def interpret(self, emails: list[OutgoingEmail], response: list[Path]) -> list[SendResult]:
        return [SendResult.accepted(email, path.name) for email, path in zip(emails, response, strict=True)]


def _write_atomically(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
