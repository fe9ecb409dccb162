"""The layer rules, checked on the source: runops/ never imports streamlit; pages/ and ui/ never prefect."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [("runops", "streamlit"), ("pages", "prefect"), ("ui", "prefect")],
)
def test_layer_rule(folder: str, forbidden: str) -> None:
    files = sorted((ROOT / folder).rglob("*.py"))
    assert files, folder
    offenders = [str(f.relative_to(ROOT)) for f in files if forbidden in imported_modules(f)]
    assert not offenders, f"{folder}/ must not import {forbidden}: {offenders}"


def test_every_page_calls_the_guard() -> None:
    for page in sorted((ROOT / "pages").glob("*.py")):
        assert "page_setup(" in page.read_text(), f"{page.name} must call ui.guard.page_setup() itself"
