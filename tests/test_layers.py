"""The layer rules, checked on the source: runops/ never imports streamlit; pages/ and ui/ never prefect;
only runops/prefect_api/ calls Prefect's endpoints."""

from __future__ import annotations

import ast
import inspect
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


def client_endpoint_methods() -> set[str]:
    """The methods of Prefect's client that call an endpoint (its public coroutines; `request`
    is the raw one)."""
    from prefect.client.orchestration import PrefectClient

    return {
        name
        for name, value in inspect.getmembers(PrefectClient)
        if not name.startswith("_") and inspect.iscoroutinefunction(value)
    }


def endpoint_calls(path: Path, methods: set[str]) -> list[str]:
    """Where a Prefect client's endpoint method is used: `<...client...>.<method>`."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in methods:
            owner = node.value
            name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", "")
            if "client" in name.lower():
                found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


def test_only_prefect_api_calls_endpoints() -> None:
    """Every call to a Prefect endpoint, through the client's methods or by hand, is made in
    runops/prefect_api/; runops/dev/ (starting and seeding servers) is tooling, not the service."""
    methods = client_endpoint_methods()
    assert {"request", "read_flow_runs", "set_flow_run_state"} <= methods
    allowed = (ROOT / "runops" / "prefect_api", ROOT / "runops" / "dev")
    files = [f for f in sorted((ROOT / "runops").rglob("*.py")) if not f.is_relative_to(allowed[0])]
    files = [f for f in files if not f.is_relative_to(allowed[1])]
    offenders = {str(f.relative_to(ROOT)): calls for f in files if (calls := endpoint_calls(f, methods))}
    assert not offenders, f"Prefect endpoint calls outside runops/prefect_api/: {offenders}"
    # the check sees them where they are
    assert endpoint_calls(ROOT / "runops" / "prefect_api" / "flow_runs.py", methods)
    assert endpoint_calls(ROOT / "runops" / "dev" / "demo.py", methods)
