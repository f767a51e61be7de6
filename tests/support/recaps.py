"""The recaps the tests publish: the shared examples, and small ones a test writes for itself."""

from __future__ import annotations

from pathlib import Path

from tests.support.paths import EXAMPLES

#: The recap most tests publish: any well-formed issue will do.
RECAP = EXAMPLES / "recaps" / "modu-product-vs-tech.md"
#: Uses the merge tags *|FIRST_NAME|* and *|COMPANY|* in its body.
WORKSHOP = EXAMPLES / "recaps" / "modu-roadmap-workshop.md"


def write_recap(path: Path, body: str, front_matter: str = "title: Recap") -> Path:
    """Write a recap file with this front matter (YAML lines) and Markdown body; return its path."""
    path.write_text(f"---\n{front_matter}\n---\n{body}\n", encoding="utf-8")
    return path


def insecure_image_recap(folder: Path) -> Path:
    """A recap whose only fault is a lint finding: an image over plain HTTP."""
    return write_recap(folder / "http-image.md", "![A photo](http://images.example/p.jpg){width=600 height=400}", "title: Insecure image")
