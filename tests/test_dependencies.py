"""Every third-party package the shipped code imports is declared in pyproject.toml's dependencies."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIRST_PARTY = {"runops", "ui"}


def shipped_files() -> list[Path]:
    """What a wheel installs and runs: the packages, app.py and the pages."""
    return [
        ROOT / "app.py",
        *sorted((ROOT / "pages").glob("*.py")),
        *sorted((ROOT / "runops").rglob("*.py")),
        *sorted((ROOT / "ui").rglob("*.py")),
    ]


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = (re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", spec) for spec in project["dependencies"])
    return {normalize(match.group()) for match in names if match}


def third_party_imports(files: list[Path]) -> dict[str, set[str]]:
    """Top-level name → the files importing it; every import, also those inside functions."""
    found: dict[str, set[str]] = {}
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top not in sys.stdlib_module_names and top not in FIRST_PARTY:
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def undeclared(imports: dict[str, set[str]], declared: set[str]) -> list[str]:
    """One line per imported package no declared distribution provides."""
    providers = packages_distributions()
    problems = []
    for name, files in sorted(imports.items()):
        dists = {normalize(d) for d in providers.get(name, [])}
        where = ", ".join(sorted(files)[:3])
        if not dists:
            problems.append(f"{name}: imported by {where} but no installed distribution provides it")
        elif not dists & declared:
            problems.append(f"{name} (from {', '.join(sorted(dists))}): imported by {where}, not declared")
    return problems


def test_every_imported_package_is_declared() -> None:
    imports = third_party_imports(shipped_files())
    assert {"prefect", "streamlit", "typer"} <= imports.keys()  # the walk sees the shipped code
    problems = undeclared(imports, declared())
    assert not problems, "add to pyproject.toml [project] dependencies:\n" + "\n".join(problems)


def test_a_missing_declaration_is_named() -> None:
    imports = third_party_imports(shipped_files())
    problems = undeclared(imports, declared() - {"typer"})
    assert len(problems) == 1 and problems[0].startswith("typer (from typer)"), problems
