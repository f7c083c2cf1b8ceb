"""Helpers for tests that grade purpose-built wrong modules made from the reference."""

from __future__ import annotations

from pathlib import Path


def submission(tmp_path: Path, name: str, source: str) -> Path:
    """A submission folder in ``tmp_path`` holding one module file ``name``."""
    folder = tmp_path / name.removesuffix(".py")
    folder.mkdir()
    (folder / name).write_text(source)
    return folder


def edit(source: str, *pairs: tuple[str, str]) -> str:
    """``source`` with each ``old`` replaced (once) by ``new``; fails if the reference moved."""
    for old, new in pairs:
        assert old in source, f"the reference changed: {old!r} not found"
        source = source.replace(old, new, 1)
    return source


def is_question(test) -> bool:
    """Whether a graded test is one of the labs' questions (graded from ``answers.json``)."""
    return test.name.startswith(("Question ", "Written questions "))
