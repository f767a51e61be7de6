"""Files and directories only their owner can read: the data directory and what the service keeps in it.

The SQLite database, the outbox's messages (addresses and working
unsubscribe links) and the embedded Redis's append-only file (queued work)
hold personal data, so every directory the service creates is 0700 and
every file 0600.

Each is created with its mode (``mkdir``/``os.open`` with a mode) and set to
it again right after, rather than by changing the process's umask: the umask
is shared by every thread and library of the process and would also apply
to files an operator asks for (a preview's HTML), and code that opens the
database without the command-line entry point would escape it. A child
process whose files we do not create ourselves (redis-server) gets a umask
of its own. Existing files and directories are left as they are: an
operator may have chosen their modes.
"""

from __future__ import annotations

import os
from pathlib import Path

DIRECTORY_MODE = 0o700
FILE_MODE = 0o600
#: For a child process that creates files of its own: no bits for group and others.
CHILD_UMASK = 0o077


def private_directory(path: Path) -> Path:
    """Create ``path`` and each missing parent, for the owner only; return ``path``."""
    missing: list[Path] = []
    current = path.absolute()
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=DIRECTORY_MODE)
        except FileExistsError:
            continue  # another process created it first, with its own mode
        os.chmod(directory, DIRECTORY_MODE)
    path.mkdir(exist_ok=True)  # raises when path exists but is not a directory
    return path


def create_private_file(path: Path) -> None:
    """Create ``path`` empty, for the owner only, unless it exists.

    An existing file is not opened at all: closing a descriptor of an SQLite
    database drops every lock this process holds on it.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)


def open_private(path: Path, flags: int = os.O_RDWR | os.O_APPEND) -> int:
    """Open ``path`` with ``flags``, creating it for the owner only when missing; return the file descriptor."""
    try:
        fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return os.open(path, flags)
    try:
        os.fchmod(fd, FILE_MODE)
    except OSError:
        os.close(fd)
        raise
    return fd


def write_private(path: Path, text: str) -> None:
    """Replace the contents of ``path`` with ``text`` (UTF-8); a new file is for the owner only."""
    with os.fdopen(open_private(path, os.O_WRONLY | os.O_TRUNC), "w", encoding="utf-8") as handle:
        handle.write(text)
