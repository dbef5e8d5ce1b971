"""Packaging glue that pyproject.toml cannot express: the top-level ``resources/`` folder ships
inside the package as ``liqdesk/resources`` (tier tables, the example alert rules, icons and the desktop entry)."""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["liqdesk", "liqdesk.*"]) + ["liqdesk.resources"],
    package_dir={"liqdesk.resources": "resources"},
    package_data={"liqdesk.resources": ["*.md", "*.desktop", "*/*.json", "*/*.md", "*/*.csv", "*/*.toml",
                                       "icons/*.svg", "icons/*.png"]},
)
