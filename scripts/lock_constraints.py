"""Writes compose/constraints.txt: the exact versions the images install, from this (tested) environment.

`python scripts/lock_constraints.py` resolves the base dependencies of pyproject.toml (what the router and Triton
images install) through the installed distributions' own requirements, and pins each to its installed version.
The images install with `-c compose/constraints.txt`, so an image built next month gets what the tests passed with.
Run it after changing dependencies; tests/compose checks that the file covers every base dependency.
"""
from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

from packaging.markers import default_environment
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "compose" / "constraints.txt"
ENVIRONMENT = {**default_environment(), "extra": ""}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(requirements: list[str]) -> dict[str, str]:
    pinned: dict[str, str] = {}
    todo = [Requirement(r) for r in requirements]
    while todo:
        requirement = todo.pop()
        if requirement.marker is not None and not requirement.marker.evaluate(ENVIRONMENT):
            continue
        name = canonical(requirement.name)
        if name in pinned:
            continue
        try:
            dist = metadata.distribution(requirement.name)
        except metadata.PackageNotFoundError:
            sys.exit(f"{requirement.name} is not installed: install the project (pip install -e .) first")
        pinned[name] = dist.version
        for extra in requirement.extras:
            todo += [Requirement(r) for r in dist.requires or [] if f'extra == "{extra}"' in r]
        todo += [Requirement(r) for r in dist.requires or [] if "extra ==" not in r]
    return pinned


def main() -> int:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = closure(project["dependencies"])
    header = ("# Exact versions the images install (pip install -c compose/constraints.txt), from the environment the\n"
              "# tests passed in. Regenerate: python scripts/lock_constraints.py\n")
    OUT.write_text(header + "".join(f"{name}=={version}\n" for name, version in sorted(pins.items())))
    print(f"wrote {len(pins)} pins to {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
