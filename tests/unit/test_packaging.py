"""What `pip install .` ships: every package of the project, and the data files it reads."""

from __future__ import annotations

import tomllib

from setuptools import find_packages

from tests.support.paths import REPO


def test_every_package_is_installed() -> None:
    """Each folder with an __init__.py under the shipped top levels is in the package list."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    find = config["tool"]["setuptools"]["packages"]["find"]
    shipped = set(find_packages(str(REPO), include=find["include"]))
    on_disk = {".".join(p.parent.relative_to(REPO).parts)
               for top in ("app", "layouts", "data_adapters", "assets")
               for p in (REPO / top).rglob("__init__.py")}
    assert on_disk <= shipped, f"not installed by `pip install .`: {sorted(on_disk - shipped)}"
    assert "tests" not in shipped


def test_assets_the_app_serves_are_package_data() -> None:
    """CSS, JavaScript and the login stylesheet match the package-data patterns."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["assets"]
    files = [p.relative_to(REPO / "assets") for p in (REPO / "assets").rglob("*")
             if p.is_file() and p.suffix != ".py" and "__pycache__" not in p.parts]
    assert files
    unmatched = [str(f) for f in files if not any(f.match(pattern) for pattern in patterns)]
    assert unmatched == []
