"""Recap loading: every example is valid; every kind of bad content is refused with file and problem named."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from publisher.content.recap import MAX_RECAP_BYTES, load_recap, parse_recap
from publisher.core.errors import ContentError

from tests.conftest import EXAMPLES, FIXTURES

EXAMPLE_RECAPS = sorted((EXAMPLES / "recaps").glob("*.md"))


def test_there_are_example_recaps() -> None:
    assert EXAMPLE_RECAPS, "examples/recaps/ holds no recap"


@pytest.mark.parametrize("path", EXAMPLE_RECAPS, ids=lambda p: p.name)
def test_example_recaps_are_valid(path: Path) -> None:
    recap = load_recap(path)
    assert recap.meta.title
    assert recap.meta.email_subject
    assert recap.body.strip()


def test_modu_recap_keeps_every_section_of_the_seed() -> None:
    recap = load_recap(EXAMPLES / "recaps" / "modu-product-vs-tech.md")
    for heading in (
        "Not a War, But a Marriage",
        "Rebranding and the DNA of Product Management",
        "Insights into US vs UK Cultures",
        "Building Great Product and Tech Teams",
        "Remote Work and the Challenges of Collaboration",
        "Amazon's Approach to Product Management",
        "Final Takeaways",
    ):
        assert f"## {heading}" in recap.body
    assert [r.title for r in recap.meta.resources] == ["The Geek Way", "Dealing with Darwin"]
    assert recap.meta.event is not None and recap.meta.event.venue == "Holborn, London"
    assert recap.meta.cta is not None


@pytest.mark.parametrize(
    ("fixture", "problem"),
    [
        ("missing-title.md", "'title' is required"),
        ("invalid-yaml.md", "front matter is not valid YAML"),
        ("unknown-key.md", "unknown key 'sponsor'"),
        ("empty-body.md", "the body is empty"),
        ("no-front-matter.md", "line 1 must be '---'"),
    ],
)
def test_bad_recaps_name_the_file_and_the_problem(fixture: str, problem: str) -> None:
    path = FIXTURES / "recaps" / fixture
    with pytest.raises(ContentError) as caught:
        load_recap(path)
    assert str(path) in str(caught.value)
    assert problem in str(caught.value)


def test_yaml_error_points_at_the_line_in_the_file() -> None:
    with pytest.raises(ContentError, match=r"line \d+"):
        load_recap(FIXTURES / "recaps" / "invalid-yaml.md")


def test_unclosed_front_matter_is_refused() -> None:
    with pytest.raises(ContentError, match="never closed"):
        parse_recap("---\ntitle: x\nbody without closing fence\n", "open.md")


def test_subject_with_a_line_break_is_refused() -> None:
    with pytest.raises(ContentError, match="single line"):
        parse_recap('---\ntitle: ok\nsubject: "one\\r\\nBcc: victim@example.com"\n---\nbody\n', "inject.md")


def test_non_utf8_recap_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin1.md"
    path.write_bytes("---\ntitle: Café\n---\nbody\n".encode("latin-1"))
    with pytest.raises(ContentError, match="not UTF-8"):
        load_recap(path)


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ContentError, match="cannot read file"):
        load_recap(tmp_path / "nope.md")


def test_cta_url_must_be_a_url() -> None:
    with pytest.raises(ContentError, match=r"cta\.url"):
        parse_recap("---\ntitle: t\ncta: {text: Go, url: not a url}\n---\nbody\n", "cta.md")


# YAML escapes let any character into a double-quoted value: \v \f \x1c \N (NEL) \L \P (U+2028, U+2029) \0 \e \t.
ONE_LINE_BREAKERS = ["\\v", "\\f", "\\x1c", "\\N", "\\L", "\\P", "\\0", "\\e", "\\t", "\\x9b", "\\x7f", "\\u2028"]


@pytest.mark.parametrize("escape", ONE_LINE_BREAKERS)
@pytest.mark.parametrize("field", ["subject", "title", "preheader"])
def test_a_one_line_field_with_a_control_character_or_separator_is_refused_naming_the_field(field: str, escape: str) -> None:
    meta = {"title": "A recap", field: f'"Before{escape}after"'}
    text = "---\n" + "".join(f"{key}: {value}\n" for key, value in meta.items()) + "---\nbody\n"
    with pytest.raises(ContentError) as caught:
        parse_recap(text, "hostile.md")
    message = str(caught.value)
    assert message.startswith("hostile.md: front matter: ")
    assert f"'{field}'" in message and "U+" in message


def test_one_line_fields_keep_ordinary_unicode() -> None:
    recap = parse_recap('---\ntitle: "Zoë — 東京 🎉"\nsubject: "Über « quotes »"\npreheader: "Tea & cake"\n---\nbody\n', "ok.md")
    assert recap.meta.title == "Zoë — 東京 🎉"


def recap_of_size(path: Path, size: int, front_matter: str = "title: Big\n") -> Path:
    head = f"---\n{front_matter}---\n".encode()
    line = b"Words words words words words words words words words words.\n"
    body = line * ((size - len(head)) // len(line) + 1)
    path.write_bytes((head + body)[:size])
    return path


def test_a_recap_of_exactly_the_limit_loads(tmp_path: Path) -> None:
    recap = load_recap(recap_of_size(tmp_path / "limit.md", MAX_RECAP_BYTES))
    assert recap.meta.title == "Big"


def test_a_recap_over_the_limit_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    # Invalid YAML that parsing would report: the size is what is reported.
    path = recap_of_size(tmp_path / "big.md", MAX_RECAP_BYTES + 1, front_matter="title: [unclosed\n")
    with pytest.raises(ContentError) as caught:
        load_recap(path)
    assert str(caught.value) == f"{path}: is larger than 1,048,576 bytes (1 MiB), the most a recap may be"


def test_a_huge_recap_is_refused_without_reading_it_whole(tmp_path: Path) -> None:
    path = tmp_path / "huge.md"
    with path.open("wb") as handle:
        handle.write(b"---\ntitle: Huge\n---\n")
        handle.truncate(50 * 1024 * 1024)  # sparse: 50 MB on paper, nothing on disk
    with pytest.raises(ContentError, match="larger than 1,048,576 bytes"):
        load_recap(path)
    fifo = tmp_path / "endless.md"
    os.mkfifo(fifo)
    # A pipe has no size to stat: only reading at most the limit (plus one byte) can end.
    writer = subprocess.Popen([sys.executable, "-c", f"import sys; f = open({str(fifo)!r}, 'wb'); f.write(b'x' * (2 * {MAX_RECAP_BYTES}))"])
    try:
        with pytest.raises(ContentError, match="larger than 1,048,576 bytes"):
            load_recap(fifo)
    finally:
        writer.kill()
        writer.wait()
