"""Email client support data from caniemail.com, shipped with the package.

The data (MIT, see ``caniemail/LICENSE``) is one Markdown file per feature
whose YAML front matter holds ``stats: family → platform → {version: "y|n|a|u #note"}``.
Only the last version listed for a platform counts: that is the client as
subscribers run it today.

Parsing the 307 files takes about a quarter of a second, so the package ships
them parsed as well, in ``caniemail/features.json``, which a process reads
once, on its first lint. After copying newer files, write it again with
``python -c "from publisher.content.lint import caniemail; caniemail.main()"``
(a test checks that it matches them).
"""

from __future__ import annotations

import enum
import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

import yaml

#: libyaml's safe loader when PyYAML was built with it (the wheels are): it
#: parses the 307 feature files about seven times faster than the pure-Python one.
SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

DATA_PACKAGE = "publisher.content.lint"
DATA_FOLDER = "caniemail"
#: The feature files and display names, parsed: what ``features`` and ``nice_names`` read.
COMPILED = "features.json"

#: The clients the audience reads mail in ("Gmail, Outlook (Windows and .com),
#: Apple Mail and Yahoo"): family → platforms, ``None`` meaning every platform.
CLIENTS: Mapping[str, frozenset[str] | None] = {
    "gmail": None,
    "outlook": frozenset({"windows", "outlook-com"}),
    "apple-mail": None,
    "yahoo": None,
}

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n---[ \t]*(?:\n|\Z)", re.DOTALL)


class Status(enum.StrEnum):
    SUPPORTED = "y"
    UNSUPPORTED = "n"
    PARTIAL = "a"
    UNKNOWN = "u"


@dataclass(frozen=True)
class Support:
    """One client platform's support for a feature, at the last version tested."""

    version: str
    status: Status
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Feature:
    """One caniemail feature: its slug (file name), title and per-platform support."""

    slug: str
    title: str
    support: Mapping[tuple[str, str], Support]
    notes: Mapping[str, str]
    keywords: tuple[str, ...] = ()

    def clients_with(self, status: Status) -> list[tuple[str, str]]:
        """Return the ``(family, platform)`` keys in CLIENTS whose support is ``status``."""
        return [key for key, support in self.support.items() if support.status is status and _wanted(*key)]


def describe_clients(clients: list[tuple[str, str]]) -> str:
    """Name clients for a reader, platforms grouped by family: "Gmail (iOS, Android), Outlook (Windows)"."""
    names = nice_names()
    grouped: dict[str, list[str]] = {}
    for family, platform in clients:
        grouped.setdefault(names.family(family), []).append(names.platform(platform))
    return ", ".join(f"{family} ({', '.join(platforms)})" for family, platforms in grouped.items())


@dataclass(frozen=True)
class NiceNames:
    """Display names for client families and platforms (``_data/nicenames.yml``)."""

    families: Mapping[str, str]
    platforms: Mapping[str, str]

    def family(self, key: str) -> str:
        return self.families.get(key, key)

    def platform(self, key: str) -> str:
        return self.platforms.get(key, key)


def _wanted(family: str, platform: str) -> bool:
    if family not in CLIENTS:
        return False
    platforms = CLIENTS[family]
    return platforms is None or platform in platforms


def parse_feature(slug: str, text: str) -> Feature:
    """Parse one feature file; ``ValueError`` when it has no usable front matter."""
    match = _FRONT_MATTER.match(text)
    if match is None:
        raise ValueError(f"{slug}: no YAML front matter")
    # Half of the files indent with tabs, which YAML forbids; they are only
    # ever indentation there, so spaces mean the same thing.
    data = yaml.load(match.group(1).replace("\t", "    "), Loader=SAFE_LOADER)  # noqa: S506 (a safe loader)
    if not isinstance(data, dict) or not isinstance(data.get("stats"), dict):
        raise ValueError(f"{slug}: front matter has no 'stats' mapping")
    notes = {str(key): str(value) for key, value in (data.get("notes_by_num") or {}).items()}
    keywords = tuple(word.strip() for word in str(data.get("keywords") or "").split(",") if word.strip())
    return Feature(slug=slug, title=str(data.get("title") or slug), support=_support(data["stats"]), notes=notes, keywords=keywords)


def _support(stats: dict[str, Any]) -> dict[tuple[str, str], Support]:
    support: dict[tuple[str, str], Support] = {}
    for family, platforms in stats.items():
        for platform, versions in (platforms or {}).items():
            if not versions:
                continue
            # YAML mappings keep the file's order: the last entry is the newest test.
            version, value = list(versions.items())[-1]
            status, *notes = str(value).split()
            support[(str(family), str(platform))] = Support(
                version=str(version),
                status=Status(status),
                notes=tuple(note.lstrip("#") for note in notes),
            )
    return support


@cache
def features() -> Mapping[str, Feature]:
    """Every feature, keyed by slug (``css-border-radius``, ``html-role``, …), from the compiled file.

    Its support covers the CLIENTS only: lint asks about no other.
    """
    return {slug: _feature(slug, entry) for slug, entry in _compiled()["features"].items()}


@cache
def nice_names() -> NiceNames:
    """The display names of families and platforms, from the compiled file."""
    names = _compiled()["nicenames"]
    return NiceNames(families=names["family"], platforms=names["platform"])


@cache
def _compiled() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(files(DATA_PACKAGE).joinpath(DATA_FOLDER, COMPILED).read_text(encoding="utf-8"))
    return data


def _feature(slug: str, entry: dict[str, Any]) -> Feature:
    support = {
        (family, platform): Support(version=version, status=Status(status), notes=tuple(notes))
        for family, platform, version, status, notes in entry["support"]
    }
    return Feature(slug=slug, title=entry["title"], support=support, notes=entry["notes"], keywords=tuple(entry["keywords"]))


def read_features() -> dict[str, Feature]:
    """Parse every feature file, keyed by slug, with every client's support: the source of the compiled file."""
    folder = files(DATA_PACKAGE).joinpath(DATA_FOLDER, "_features")
    loaded: dict[str, Feature] = {}
    for entry in sorted(folder.iterdir(), key=lambda item: item.name):
        # ``_template.md`` is the blank form new features are written from.
        if not entry.name.endswith(".md") or entry.name.startswith("_"):
            continue
        slug = entry.name.removesuffix(".md")
        loaded[slug] = parse_feature(slug, entry.read_text(encoding="utf-8"))
    return loaded


def read_nice_names() -> NiceNames:
    """Parse the display names of families and platforms."""
    text = files(DATA_PACKAGE).joinpath(DATA_FOLDER, "_data", "nicenames.yml").read_text(encoding="utf-8")
    data = yaml.load(text, Loader=SAFE_LOADER)  # noqa: S506 (a safe loader)
    return NiceNames(families=dict(data.get("family", {})), platforms=dict(data.get("platform", {})))


def compile_data() -> str:
    """The compiled file's text, from the feature files and display names."""
    names = read_nice_names()
    compiled = {
        "features": {
            slug: {
                "title": feature.title,
                "support": [
                    [family, platform, support.version, support.status.value, list(support.notes)]
                    for (family, platform), support in feature.support.items()
                    if _wanted(family, platform)
                ],
                "notes": dict(feature.notes),
                "keywords": list(feature.keywords),
            }
            for slug, feature in read_features().items()
        },
        "nicenames": {"family": dict(names.families), "platform": dict(names.platforms)},
    }
    return json.dumps(compiled, ensure_ascii=False, separators=(",", ":"), sort_keys=True) + "\n"


def main() -> int:
    """Write the compiled file again from the feature files (after copying newer ones)."""
    target = files(DATA_PACKAGE).joinpath(DATA_FOLDER, COMPILED)
    with open(str(target), "w", encoding="utf-8") as compiled:
        compiled.write(compile_data())
    print(f"wrote {target}", file=sys.stderr)
    return 0
