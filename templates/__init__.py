"""Jinja2 email layouts, shipped as package data so an installed worker finds them."""

from pathlib import Path

TEMPLATES_DIR = Path(__file__).parent
