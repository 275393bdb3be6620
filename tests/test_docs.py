"""The documentation: a README that is a door, links that lead somewhere, and a parameter
table that matches the notebooks and the runner's checks."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat

from conftest import REPO
from helpers.workspace import ARTEFACTS, PARAMETER_RULES

DOCS = [REPO / "README.md", REPO / "INSTRUCTOR.md", REPO / "data" / "README.md",
        REPO / "benchmarks" / "README.md", *sorted((REPO / "docs").glob("*.md"))]
README_LIMIT = 6_000


def test_readme_is_a_door():
    """What it is, the two commands, the course map, real faces, where next: nothing more."""
    text = (REPO / "README.md").read_text()
    assert len(text) <= README_LIMIT, f"README.md has {len(text)} characters"
    assert "pip install -r requirements.txt && python -m helpers.course run" in text
    assert "pip install -r requirements-dev.txt && python -m pytest" in text
    assert "python -m pytest" in (REPO / ".ci" / "run").read_text()
    for notebook in sorted((REPO / "notebooks").glob("*.ipynb")):
        assert f"`{notebook.stem}`" in text, f"{notebook.stem} missing from the course map"


def _links(path: Path) -> list[str]:
    return re.findall(r"\]\(([^)\s]+)\)", path.read_text())


def test_every_relative_link_leads_to_a_file_and_heading():
    broken = []
    for doc in DOCS:
        for link in _links(doc):
            if link.startswith(("http://", "https://", "mailto:")):
                continue
            target, _, anchor = link.partition("#")
            path = (doc.parent / target).resolve() if target else doc
            if not path.exists():
                broken.append(f"{doc.relative_to(REPO)}: {link}")
            elif anchor and path.suffix == ".md":
                headings = {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
                            for h in re.findall(r"^#+ (.+)$", path.read_text(), re.M)}
                if anchor not in headings:
                    broken.append(f"{doc.relative_to(REPO)}: {link} (no such heading)")
    assert not broken, broken


def _notebook_parameters() -> dict[str, tuple[set[str], object]]:
    """Each parameter: the notebooks (01, 02, ...) whose parameters cell sets it, and its value."""
    found: dict[str, tuple[set[str], object]] = {}
    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        cell = next(c for c in nbformat.read(path, 4).cells
                    if "parameters" in c.metadata.get("tags", []))
        for node in ast.parse(cell.source).body:
            if isinstance(node, ast.Assign):
                name = node.targets[0].id
                notebooks, _ = found.get(name, (set(), None))
                found[name] = (notebooks | {path.name[:2]}, ast.literal_eval(node.value))
    return found


def test_the_parameter_table_matches_the_notebooks_and_the_checks():
    table = {}
    for line in (REPO / "docs" / "running.md").read_text().splitlines():
        row = re.match(r"\| `(\w+)` \| ([^|]+) \| `([^`]*)` \|", line)
        if row:
            table[row[1]] = (row[2].strip(), ast.literal_eval(row[3]))
    notebooks = _notebook_parameters()
    everywhere = {path.name[:2] for path in (REPO / "notebooks").glob("*.ipynb")}
    assert set(table) == set(notebooks) == set(PARAMETER_RULES)
    for name, (where, default) in table.items():
        expected_where, expected_default = notebooks[name]
        shown = everywhere if where == "all" else {n.strip() for n in where.split(",")}
        assert shown == expected_where, name
        assert default == expected_default, name
        is_ok, _ = PARAMETER_RULES[name]
        assert is_ok(default), name


def test_the_work_folder_table_lists_every_artefact_where_it_is_made():
    """docs/running.md's table is `ARTEFACTS`, and the notebook named as its writer uses it."""
    table = re.findall(r"^\| `([^`]+)` \| (\d\d_\w+) \| ([^|]+) \|$",
                       (REPO / "docs" / "running.md").read_text(), re.MULTILINE)
    assert [(path.rstrip("/"), made_by, holds.strip()) for path, made_by, holds in table] == [
        (a.path, a.made_by, a.holds) for a in ARTEFACTS.values()]
    by_helper = {"clean": "clean_images", "set_aside": "clean_images"}  # helpers/clean.py
    for name, artefact in ARTEFACTS.items():
        source = (REPO / "notebooks" / f"{artefact.made_by}.ipynb").read_text()
        if name in by_helper:
            assert by_helper[name] in source
            source = (REPO / "helpers" / "clean.py").read_text().replace('"', '\\"')
        assert f'\\"{name}\\"' in source, (name, artefact.made_by)


def test_the_supported_pythons_are_the_ones_that_resolve_everywhere():
    """pyproject's requires-python (which the pre-flight check reads) is exactly the Pythons
    whose column in docs/platforms.md resolves on every system."""
    from helpers.preflight import supported_pythons

    lines = [line for line in (REPO / "docs" / "platforms.md").read_text().splitlines()
             if line.startswith("| ")]
    pythons = re.findall(r"Python (3\.\d+)", lines[0])
    rows = [line.strip("|").split("|")[1:] for line in lines[1:]]
    everywhere = {v for i, v in enumerate(pythons)
                  if all(row[i].strip().startswith("yes") for row in rows)}
    assert {v for v in pythons if supported_pythons().contains(v + ".0")} == everywhere


def test_the_package_map_names_every_helpers_module():
    """helpers/__init__.py's map of stages and machinery is how a newcomer finds a module."""
    import helpers

    named = set(re.findall(r"`(\w+)`", helpers.__doc__))
    modules = {path.stem for path in (REPO / "helpers").glob("*.py")} - {"__init__"}
    assert modules <= named, f"not in helpers/__init__.py's map: {sorted(modules - named)}"


def test_the_project_layout_names_every_helpers_module():
    """docs/running.md's project layout lists the helpers modules, one word each."""
    text = (REPO / "docs" / "running.md").read_text(encoding="utf-8")
    helpers_entry = text.split("\nhelpers/", 1)[1].split("\ndata/", 1)[0]
    named = set(re.findall(r"\w+", helpers_entry))
    modules = {path.stem for path in (REPO / "helpers").glob("*.py")} - {"__init__"}
    assert modules <= named, f"not in docs/running.md's layout: {sorted(modules - named)}"
