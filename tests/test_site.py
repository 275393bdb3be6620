"""`python -m helpers.course site`: the course run's executed notebooks become a static website,
looked at in Chromium as a reader would: every page loads, each notebook page shows every
figure its executed notebook holds, and every link inside the site leads to a file of it."""

from pathlib import Path
from urllib.parse import unquote, urlparse

import nbformat

from conftest import chromium
from helpers import course as course_module

LINKS = "() => Array.from(document.querySelectorAll('a[href]')).map(a => a.href)"
FIGURES = """() => Array.from(document.querySelectorAll('article img'))
  .filter(img => img.complete && img.naturalWidth > 0).length"""


def _figures(notebook: Path) -> int:
    executed = nbformat.read(notebook, as_version=4)
    return sum(any(kind.startswith("image/") for kind in output.get("data", {}))
               for cell in executed.cells if cell.cell_type == "code" for output in cell.outputs)


def test_the_executed_course_becomes_a_site_whose_pages_figures_and_links_work(
        course, tmp_path, capsys):
    browser_path = chromium()
    site = tmp_path / "site"
    assert course_module.main(["site", "--executed", str(course["out"]), "--out",
                               str(site)]) == 0
    assert f"Site built: {site / 'index.html'}" in capsys.readouterr().out
    notebooks = sorted(course["out"].glob("[0-9][0-9]_*.ipynb"))
    pages = [site / "index.html", *(site / "notebooks" / f"{nb.stem}.html" for nb in notebooks),
             site / "INSTRUCTOR.html", *sorted((site / "docs").glob("*.html"))]
    from playwright.sync_api import sync_playwright

    broken, seen = [], {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
        page = browser.new_page()
        for html in pages:
            page.goto(html.as_uri())
            assert page.locator("article h1").count() >= 1, html
            seen[html.stem] = page.evaluate(FIGURES)
            for url in page.evaluate(LINKS):
                link = urlparse(url)
                if link.scheme == "file" and not Path(unquote(link.path)).is_file():
                    broken.append(f"{html.name} -> {url}")
        nav = page.evaluate(LINKS)
        browser.close()
    assert not broken, broken
    for notebook in notebooks:  # every figure of the run, shown
        assert seen[notebook.stem] >= _figures(notebook) >= 1, (notebook.name, seen)
    course_order = [site / "notebooks" / f"{nb.stem}.html" for nb in notebooks]
    in_nav = [Path(unquote(urlparse(url).path)) for url in nav if "/notebooks/" in url]
    assert sorted(set(in_nav), key=in_nav.index) == course_order  # the contents, in order
    assert course_module.main(["site", "--executed", str(course["out"]), "--out",
                               str(site)]) == 0  # the kit's own site is replaced


def test_the_site_command_says_what_to_do_without_a_run_or_over_a_folder_of_yours(
        tmp_path, capsys):
    assert course_module.main(["site", "--executed", str(tmp_path), "--out",
                               str(tmp_path / "site")]) == 2
    assert "run the course first" in capsys.readouterr().err
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    (mine / "index.html").write_text("my own site")  # a front page alone is not the kit's mark
    (tmp_path / "01_collect_data.ipynb").write_text(nbformat.writes(nbformat.v4.new_notebook()))
    assert course_module.main(["site", "--executed", str(tmp_path), "--out", str(mine)]) == 2
    assert "is not a site this command built" in capsys.readouterr().err
    assert (mine / "notes.txt").read_text() == "mine"
    assert (mine / "index.html").read_text() == "my own site"
