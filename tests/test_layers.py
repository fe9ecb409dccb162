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


def endpoint_calls(path: Path) -> list[int]:
    """Lines where a client's raw `request(...)` is called: a hand-routed Prefect endpoint."""
    tree = ast.parse(path.read_text(), filename=str(path))
    lines = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "request"
        ):
            owner = node.func.value
            name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", "")
            if "client" in name.lower():
                lines.append(node.lineno)
    return lines


def test_only_prefect_api_calls_endpoints_by_hand() -> None:
    """Prefect's own client methods may be used anywhere in the service layer; an endpoint the client
    has no method for is called in runops/prefect_api/ only (runops/dev/ starts and seeds servers)."""
    allowed = (ROOT / "runops" / "prefect_api", ROOT / "runops" / "dev")
    files = [f for f in sorted((ROOT / "runops").rglob("*.py")) if not f.is_relative_to(allowed[0])]
    files = [f for f in files if not f.is_relative_to(allowed[1])]
    offenders = {str(f.relative_to(ROOT)): lines for f in files if (lines := endpoint_calls(f))}
    assert not offenders, f"raw endpoint calls outside runops/prefect_api/: {offenders}"
    assert endpoint_calls(ROOT / "runops" / "prefect_api" / "flow_runs.py")  # the check sees them
