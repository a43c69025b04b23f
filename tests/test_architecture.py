"""The floors of the house: imports run one way, and no module grows past one screenful's worth.

Read from the source, not from what happens to be imported at run time, so a lazy import
inside a function counts as much as one at the top of a module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Which of our packages each package may import (itself always). The CLI reaches all.
ALLOWED: dict[str, frozenset[str]] = {
    "data_schemas": frozenset(),
    "features": frozenset({"data_schemas"}),
    "models": frozenset({"features", "data_schemas"}),
    "training": frozenset({"models", "features", "data_schemas"}),
    "service": frozenset({"models", "features", "data_schemas"}),
}
OURS = frozenset(ALLOWED)
MAX_MODULE_LINES = 400


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _imported_packages(path: Path) -> set[str]:
    """Our top-level packages a module imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found |= {name.split(".")[0] for name in names} & OURS
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_each_package_imports_only_the_floors_below_it(package: str) -> None:
    allowed = ALLOWED[package] | {package}
    wrong = {
        str(path.relative_to(ROOT)): sorted(_imported_packages(path) - allowed)
        for path in _modules(package)
        if _imported_packages(path) - allowed
    }
    assert wrong == {}


def test_the_service_never_imports_training() -> None:
    # The Docker image leaves training/ out; a stray import would only fail there.
    assert not any("training" in _imported_packages(path) for path in _modules("service"))


def test_no_module_is_longer_than_400_lines() -> None:
    paths = [ROOT / "alliance_risk_cli.py"] + [p for package in ALLOWED for p in _modules(package)]
    long = {
        str(path.relative_to(ROOT)): n
        for path in paths
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_the_floor_check_sees_imports_inside_functions(tmp_path: Path) -> None:
    module = tmp_path / "lazy.py"
    module.write_text("def f():\n    from training.pipeline import train\n    import service.app\n")
    assert _imported_packages(module) == {"training", "service"}
