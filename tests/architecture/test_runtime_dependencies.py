"""Every third-party package the application imports is a runtime dependency, not only a test extra.

A package that only the test extra brings in passes the whole suite yet breaks `scripts/run.sh` on a fresh
machine (this happened with m3u8), so the imports are checked against pyproject's `dependencies`.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions, requires
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _declared() -> set[str]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {_name(d) for d in deps}
    for name in list(names):  # what the declared packages bring with them (botocore, rich...)
        names |= {_name(r) for r in (requires(name) or []) if "extra ==" not in r}
    return names


def _imported_top_levels() -> set[str]:
    found = set()
    for path in (ROOT / "kdrama_tui").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"kdrama_tui", "__future__"}


def test_every_imported_package_is_a_runtime_dependency() -> None:
    distributions = packages_distributions()
    declared = _declared()
    missing = {module: distributions.get(module, [module]) for module in _imported_top_levels()
               if not {_name(d) for d in distributions.get(module, [module])} & declared}
    assert not missing, f"imported by kdrama_tui but not in [project] dependencies: {missing}"
