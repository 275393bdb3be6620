"""The code and notebooks stay lint-clean and the notebooks stay runnable by papermill."""

import shutil
import subprocess
import sys

import nbformat
import pytest

from conftest import REPO

NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.skipif(shutil.which("ruff") is None and sys.prefix == sys.base_prefix,
                    reason="ruff not installed")
def test_ruff_is_clean():
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=REPO,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_conventions(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    for name in ("DATA_DIR", "WORK_DIR", "SEED", "QUICK"):
        assert f"\n{name} = " in "\n" + tagged[0].source
    assert not [c for c in nb.cells if c.cell_type == "code" and c.outputs], "strip outputs"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")


READING_WORDS = 4_000  # about 31 minutes at 130 words a minute for all eight notebooks
COURSE = [path for path in NOTEBOOKS if path.name[:2] <= "08"]  # the extensions have their own


def test_the_reading_fits_the_workshop():
    """The prose of notebooks 01-08 together stays under READING_WORDS (words as
    whitespace-separated tokens of the markdown cells): benchmark tables and long explanations
    belong in the README and docs, not in the lesson."""
    words = {path.name: sum(len(cell.source.split()) for cell in
                            nbformat.read(path, as_version=4).cells
                            if cell.cell_type == "markdown") for path in COURSE}
    assert sum(words.values()) <= READING_WORDS, words


#: The optional extensions after the course (README's lesson list), each with its own cap.
EXTENSION_WORDS = {"09_your_own_face.ipynb": 700, "10_fix_the_labels.ipynb": 700}


@pytest.mark.parametrize("name", EXTENSION_WORDS)
def test_each_extension_is_a_short_read(name):
    path = REPO / "notebooks" / name
    words = sum(len(cell.source.split()) for cell in nbformat.read(path, as_version=4).cells
                if cell.cell_type == "markdown")
    assert words <= EXTENSION_WORDS[name], words


def test_every_extension_has_a_cap():
    assert {p.name for p in NOTEBOOKS} - {p.name for p in COURSE} == set(EXTENSION_WORDS)


def _text_io_without_encoding(source: str) -> list[str]:
    """Calls that read or write text in the system's encoding (cp1252 on many Windows
    laptops): `read_text`/`write_text` without `encoding=`, `open` in text mode without it."""
    import ast

    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or "encoding" in {k.arg for k in node.keywords}:
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in ("read_text", "write_text"):
            found.append(ast.unparse(node))
        elif isinstance(func, ast.Name) and func.id == "open":
            mode = node.args[1] if len(node.args) > 1 else next(
                (k.value for k in node.keywords if k.arg == "mode"), None)
            if not (isinstance(mode, ast.Constant) and "b" in str(mode.value)):
                found.append(ast.unparse(node))
    return found


def test_helpers_read_and_write_text_as_utf8_on_every_system():
    """A card or report written on a Linux machine is read on a Windows laptop (a classroom
    stick): every text file the helpers touch is UTF-8, whatever the system's code page."""
    found = {path.name: calls for path in sorted((REPO / "helpers").glob("*.py"))
             if (calls := _text_io_without_encoding(path.read_text(encoding="utf-8")))}
    assert not found, found
    assert _text_io_without_encoding("p.read_text()\nopen(f)\nopen(f, 'rb')") == ["p.read_text()",
                                                                                  "open(f)"]


def test_helpers_modules_and_functions_stay_small():
    """No module of the kit over 400 lines, no function over 60 (DEVELOPERS.md's style)."""
    import ast

    too_long = []
    for path in sorted((REPO / "helpers").glob("*.py")):
        source = path.read_text(encoding="utf-8")
        if len(source.splitlines()) > 400:
            too_long.append(f"{path.name}: {len(source.splitlines())} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                if (lines := node.end_lineno - node.lineno + 1) > 60:
                    too_long.append(f"{path.name}: {node.name} has {lines} lines")
    assert not too_long, too_long
