"""The supported Pythons are one list: pyproject's requires-python and classifiers, the README
(teacher's and student's), and Colab's pinned runtime, whose versions the ranges admit."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from tests.test_colab_pins import PINS, colab_pins, colab_python

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")

REPO = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
SAME_DISTRIBUTION = {"tensorflow-cpu": "tensorflow"}
"""Names that are one package for a range check (the CPU-only wheel of the same release)."""


def _canonical(name: str) -> str:
    name = re.sub(r"[-_.]+", "-", name).lower()
    return SAME_DISTRIBUTION.get(name, name)


def supported() -> list[str]:
    """The ``3.X`` that requires-python admits."""
    spec = SpecifierSet(PYPROJECT["requires-python"])
    return [f"3.{minor}" for minor in range(30) if spec.contains(f"3.{minor}")]


def _readme_range(text: str, where: str) -> list[str]:
    match = re.search(r"With Python 3\.(\d+)-3\.(\d+)", text)
    assert match, f"{where} names no 'With Python 3.X-3.Y'"
    low, high = map(int, match.groups())
    return [f"3.{minor}" for minor in range(low, high + 1)]


def test_requires_python_is_a_closed_range_from_3_10():
    versions = supported()
    assert versions[0] == "3.10" and "3.30" not in versions
    assert versions == [f"3.{m}" for m in range(10, 10 + len(versions))]


def test_classifiers_list_exactly_the_supported_pythons():
    listed = [c.rsplit(" :: ", 1)[1] for c in PYPROJECT["classifiers"]
              if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)]
    assert sorted(listed, key=lambda v: int(v.split(".")[1])) == supported()
    assert "Programming Language :: Python :: 3 :: Only" in PYPROJECT["classifiers"]


def test_readme_quick_start_names_the_supported_pythons():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert _readme_range(quick_start, "README.md's quick start") == supported()


def test_student_readme_names_the_supported_pythons():
    release = pytest.importorskip("seqlab.release")
    text = getattr(release, "STUDENT_README", None)
    if text is None or "With Python" not in text:
        pytest.skip("the student README names no Python versions")
    assert _readme_range(text, "the student README (seqlab/release.py)") == supported()


def test_colabs_python_is_supported():
    assert colab_python() in supported(), (
        f"Colab runs Python {colab_python()} ({PINS.name}) but requires-python is "
        f"{PYPROJECT['requires-python']!r}")


def _ranges() -> dict[str, list[tuple[str, Requirement]]]:
    """Every version range the kit states, by package: requirements.txt and pyproject."""
    ranges: dict[str, list[tuple[str, Requirement]]] = {}
    lines = (REPO / "requirements.txt").read_text(encoding="utf-8").splitlines()
    for where, entries in (("requirements.txt", lines),
                           ("pyproject.toml", PYPROJECT["dependencies"])):
        for entry in entries:
            entry = entry.split(" #", 1)[0].strip()
            if entry and not entry.startswith(("#", "-")):
                requirement = Requirement(entry)
                ranges.setdefault(_canonical(requirement.name), []).append((where, requirement))
    return ranges


def test_the_kits_ranges_admit_colabs_pins():
    ranges = _ranges()
    for name, version in colab_pins().items():
        stated = ranges.get(_canonical(name), [])
        assert stated, f"{PINS.name} pins {name}, which the kit does not require"
        for where, requirement in stated:
            assert requirement.specifier.contains(version, prereleases=True), (
                f"Colab has {name}=={version}, but {where} asks for {requirement}")
