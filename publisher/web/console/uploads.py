"""CSV uploads: kept in a private temporary file for the import to read, and deleted after it.

The imports read a file by path, as the command line gives them one; an
upload is written to an owner-only directory under its own (cleaned) name, so
the consent proof an import records (``import:<file name>``) names the file
the user chose. Messages about the file name it, never the temporary path.

The upload routes take no ``Form``/``File`` parameters: FastAPI reads those
before any dependency runs, so anyone could make the server read and spool
a body as large as the import limit. The session is looked up first (403
before the body is read otherwise); the body is parsed for its CSRF token,
and :data:`UploadForm` hands it over once that token and the role are checked.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException

from publisher.core.private_files import open_private
from publisher.web.console.access import Editor
from publisher.web.console.auth import read_form

#: Console routes that take a whole CSV file: their bodies may reach NEWSLETTER_MAX_IMPORT_BYTES
#: rather than NEWSLETTER_MAX_REQUEST_BYTES (publisher.web.limits.BodySizeLimit).
UPLOAD_PATHS = ("/console/lists/import", "/console/suppressions/import", "/console/attendees/import")
MAX_NAME = 80
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
CHUNK = 1 << 20


class UploadError(ValueError):
    """The upload cannot be imported at all; the message says why."""


async def upload_form(request: Request, _user: Editor) -> AsyncIterator[FormData]:
    """The posted form of a signed-in editor, its CSRF token checked; its spooled files closed after the handler."""
    form = await read_form(request)
    try:
        yield form
    finally:
        await form.close()


#: The parameter type of an upload handler's form.
UploadForm = Annotated[FormData, Depends(upload_form)]


def text_field(form: FormData, name: str, max_length: int) -> str:
    """A text field of ``form`` ("" when absent); 422 when it is a file or longer than ``max_length``."""
    value = form.get(name, "")
    if not isinstance(value, str) or len(value) > max_length:
        raise HTTPException(422, f"the field {name} must be text of at most {max_length} characters")
    return value


def file_field(form: FormData, name: str) -> UploadFile | None:
    value = form.get(name)
    return value if isinstance(value, UploadFile) else None


def clean_name(filename: str | None) -> str:
    """A file name safe to create and to show: letters, digits, '.', '_' and '-', never hidden."""
    base = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _UNSAFE.sub("_", base).lstrip(".")[:MAX_NAME]
    return cleaned or "upload.csv"


@contextmanager
def saved_upload(upload: UploadFile | None, limit: int) -> Iterator[Path]:
    """The upload written to a private temporary file, deleted when the block ends; UploadError when there is nothing usable."""
    if upload is None or not upload.filename:
        raise UploadError("choose a CSV file to import")
    directory = Path(tempfile.mkdtemp(prefix="console-upload-"))  # 0700
    path = directory / clean_name(upload.filename)
    try:
        fd = open_private(path, os.O_WRONLY | os.O_TRUNC)
        with os.fdopen(fd, "wb") as out:
            size = 0
            while chunk := upload.file.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise UploadError(f"the file is larger than {limit} bytes")
                out.write(chunk)
        if size == 0:
            raise UploadError(f"{path.name} is empty")
        yield path
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def without_directory(message: str, path: Path) -> str:
    """``message`` with the temporary directory taken out, so it names only the file."""
    return message.replace(f"{path.parent}{os.sep}", "")
