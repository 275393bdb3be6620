"""The executed course as a static website: `python -m helpers.course site`.

Built by Sphinx with MyST-NB and sphinx-book-theme (Jupyter Book 1's engine: all on PyPI, and
unlike Jupyter Book 2 it builds offline) from the notebooks a course run left in
`WORK_DIR/executed`, with their outputs: nothing is executed again (`nb_execution_mode =
"off"`). The README is the front page; the notebooks follow in course order, then the
instructor guide and the docs, so the README's links between them work on the site too. The
tools come with requirements-dev.txt, not with what learners install.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from helpers.project import ROOT
from helpers.workspace import is_kit_folder, prepare_output_folder

#: The pages besides the notebooks, as the repository holds them (README.md is the front page).
GUIDES = ("INSTRUCTOR.md", "docs/running.md", "docs/own-photos.md", "docs/platforms.md",
          "docs/troubleshooting.md", "benchmarks/README.md", "benchmarks/results.md",
          "benchmarks/EXPERIMENTS.md", "data/README.md")
CONF = '''project = "Happy or sad? A CNN course kit"
extensions = ["myst_nb", "sphinx.ext.githubpages"]  # the latter writes .nojekyll
html_theme = "sphinx_book_theme"
html_title = project
nb_execution_mode = "off"  # the outputs are the course run's: nothing runs again
myst_heading_anchors = 3  # links such as INSTRUCTOR.md#before-the-day
exclude_patterns = ["_build"]
'''


def site_source(executed: Path, source: Path) -> list[str]:
    """Lay out the site's sources in `source` (the repository's layout, so relative links
    resolve): the README as index.md with the table of contents, the executed notebooks,
    the guides. Returns the notebook pages in course order."""
    notebooks = sorted(executed.glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(
            f"No executed notebooks in {executed}: run the course first (`python -m "
            "helpers.course run`; --out puts them elsewhere), then build the site from them.")
    (source / "notebooks").mkdir(parents=True)
    for notebook in notebooks:
        shutil.copyfile(notebook, source / "notebooks" / notebook.name)
    for guide in GUIDES:  # their links to the README go to the front page
        (source / guide).parent.mkdir(parents=True, exist_ok=True)
        text = (ROOT / guide).read_text(encoding="utf-8")
        (source / guide).write_text(text.replace("](../README.md", "](../index.md"),
                                    encoding="utf-8")
    pages = [f"notebooks/{notebook.stem}" for notebook in notebooks]
    contents = _toctree("The course", pages) + _toctree(
        "Teaching and running it", [guide.removesuffix(".md") for guide in GUIDES])
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    (source / "index.md").write_text(readme + "\n" + contents, encoding="utf-8")
    (source / "conf.py").write_text(CONF, encoding="utf-8")
    return pages


def _toctree(caption: str, pages: list[str]) -> str:
    return "```{toctree}\n:hidden:\n:caption: " + caption + "\n\n" + "\n".join(pages) + "\n```\n\n"


def build_site(executed: Path, out: Path) -> Path:
    """Build the site of the notebooks in `executed` into `out` (replaced if the kit built it
    before); return its front page."""
    try:
        import myst_nb  # noqa: F401
        import sphinx_book_theme  # noqa: F401
    except ImportError as err:
        raise RuntimeError(f"Building the site needs the developer tools ({err.name} is not "
                           "installed): pip install -r requirements-dev.txt") from err
    if out.exists() and any(out.iterdir()) and not is_kit_folder(out):
        raise FileExistsError(f"{out} exists and is not a site this command built: choose "
                              "another --out, or move it away.")
    with tempfile.TemporaryDirectory() as tmp:  # the old site stays until the new one is built
        source, html = Path(tmp) / "source", Path(tmp) / "html"
        site_source(executed, source)
        done = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-q", str(source),
                               str(html)], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"Sphinx could not build the site:\n{done.stderr[-3000:]}")
        shutil.copytree(html, prepare_output_folder(out, executed), dirs_exist_ok=True)
    return out / "index.html"
