"""docs/api.md is the complete API reference, and nothing in the repository points outside it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
API_DOC = REPO / "docs" / "api.md"
_SKIPPED_DIRS = {".git", ".tox", ".venv", "build", "dist", "instance", "node_modules",
                 "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis"}


def _documented_routes(app) -> set[str]:
    routes = set()
    for rule in app.url_map.iter_rules():
        path = rule.rule
        if not path.startswith("/api/v1/") or rule.endpoint.startswith(("api.specs", "api.doc",
                                                                        "api.root", "restx")):
            continue
        if "swaggerui" in path or path in ("/api/v1/", "/api/v1/swagger.json", "/api/v1/ui"):
            continue
        public = re.sub(r"<(?:[a-z_]+:)?[a-z_]+>", "{id}", path[len("/api/v1"):])
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            routes.add(f"{method} {public}")
    return routes


def test_every_endpoint_is_in_the_api_reference(app):
    text = API_DOC.read_text()
    routes = _documented_routes(app)
    assert len(routes) >= 25  # the walk found the API, not nothing

    missing = [route for route in sorted(routes)
               if f"`{route}`" not in text and f"`{route.replace(' ', ' /api/v1', 1)}`" not in text]

    assert not missing, f"docs/api.md does not describe {missing}"


def test_every_setting_is_in_the_api_reference():
    from usergate import config

    text = API_DOC.read_text()
    names = {*config._INT_SETTINGS, *config._STR_SETTINGS, *config._BOOL_SETTINGS,
             "USERGATE_CONFIG"}

    assert not [name for name in sorted(names) if f"`{name}`" not in text]


def test_the_section_for_the_second_part_comes_last():
    headings = [line for line in API_DOC.read_text().splitlines() if line.startswith("## ")]

    assert headings[-1] == "## Account lifecycle and standard endpoints (§6)"


def test_the_readme_links_the_api_reference():
    assert "](docs/api.md)" in (REPO / "README.md").read_text()


def _repository_files():
    """What the repository holds or would hold: tracked files and untracked ones that
    .gitignore does not exclude. What tests and tools write (tox, Hypothesis's database,
    caches) is ignored, so a path it records is not the repository's."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                                 "--exclude-standard"], cwd=REPO, capture_output=True,
                                check=True).stdout.decode().split("\0")
        candidates = (REPO / name for name in listed if name)
    except (OSError, subprocess.CalledProcessError):  # not a git checkout (an sdist)
        candidates = (path for path in REPO.rglob("*")
                      if not any(part in _SKIPPED_DIRS or part.endswith(".egg-info")
                                 for part in path.relative_to(REPO).parts))
    for path in candidates:
        if path.is_file() and path.suffix not in {".png", ".pyc", ".db", ".pem"}:
            yield path


def test_nothing_in_the_repository_points_outside_it():
    # Spelled in pieces so that this file does not match itself.
    # The contract lives outside the repository; docs/api.md restates it here.
    outside = re.compile("|".join([r"\.\./" + "shared", "/" + "work/", r"\]\(\.\./\.\./",
                                   r"\bAPI" + r"\.md"]))
    hits = [f"{path.relative_to(REPO)}:{number}"
            for path in _repository_files()
            for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
            if outside.search(line)]

    assert not hits, hits
