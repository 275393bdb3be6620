"""A learner's JupyterLab: every notebook opened and run with Run All in a real browser.

JupyterLab runs from the kit's environment on 127.0.0.1 with a token, over a copy of the kit
whose notebooks have QUICK injected (as the nbval test does). Debian's `chromium`, driven by
the `playwright` package (`playwright install` is not needed, nor possible offline), opens each
notebook in course order and runs it through JupyterLab's own "run all cells" command. Checked
per notebook: the kernel is "Python 3 (ipykernel)" with no kernel picker, every code cell ran,
no error output, the figures are <img> elements; in 02 the review grid applies a mark to the
cleaning report; in 07 a photo uploaded through the widget gets a label. A screenshot of each
notebook is saved in the test's temporary folder (its path is printed on failure).
"""

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pandas as pd
import pytest
from matplotlib import cbook

from conftest import REPO

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
#: Figures (<img> outputs) each notebook shows at least, in a QUICK run on generated faces.
MIN_FIGURES = {"01": 2, "02": 1, "03": 2, "04": 0, "05": 2, "06": 3, "07": 2, "08": 6}
SETTINGS = {  # windowing off: every cell is in the page; no news pop-up
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false", "checkForUpdates": False},
}
PANEL = """(name) => Array.from(window.jupyterapp.shell.widgets('main'))
  .find(w => w.context && w.context.path.endsWith(name))"""
STATE = """(name) => {
  const panel = (PANEL)(name);
  const session = panel && panel.sessionContext && panel.sessionContext.session;
  const kernel = session && session.kernel;
  if (!kernel || !panel.content.model) return null;
  const code = Array.from(panel.content.model.cells).filter(c => c.type === 'code');
  const outputs = code.flatMap(c => c.outputs.toJSON());
  return {status: kernel.status, kernel: panel.sessionContext.kernelDisplayName,
          cells: code.length, ran: code.filter(c => c.executionCount !== null).length,
          errors: outputs.filter(o => o.output_type === 'error')
                         .map(o => o.ename + ': ' + o.evalue)};
}""".replace("PANEL", PANEL)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if CHROMIUM is None:
        message = ("NO CHROMIUM: the browser test needs Debian's chromium package "
                   "(apt-get install chromium; .ci/run installs it)")
        if os.environ.get("KIT_REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)
    import papermill as pm

    root = tmp_path_factory.mktemp("lab")
    kit = root / "kit"
    shutil.copytree(REPO / "helpers", kit / "helpers")
    (kit / "notebooks").mkdir()
    for nb in NOTEBOOKS:
        pm.execute_notebook(nb, kit / "notebooks" / nb.name, parameters={"QUICK": True},
                            prepare_only=True, kernel_name="python3")
    for name, values in SETTINGS.items():
        path = root / "settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    token, port = secrets.token_hex(16), _free_port()
    log = (root / "jupyter.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
         "--ip=127.0.0.1", f"--port={port}", f"--IdentityProvider.token={token}",
         f"--ServerApp.root_dir={kit}", "--LabApp.expose_app_in_browser=True"],
        stdout=log, stderr=subprocess.STDOUT, cwd=kit,
        env={**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(root / "settings"),
             "JUPYTERLAB_WORKSPACES_DIR": str(root / "workspaces"), "PYTHONPATH": str(kit)})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5)
            break
        except OSError:
            assert server.poll() is None and time.monotonic() < deadline, (
                f"JupyterLab did not start: {(root / 'jupyter.log').read_text()[-2000:]}")
            time.sleep(0.5)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        yield {"page": page, "url": url, "token": token, "kit": kit, "root": root}
        browser.close()
    server.terminate()
    server.wait(timeout=30)
    log.close()


def run_all(lab, name: str, timeout_s: float = 300) -> dict:
    """Open a notebook (in a fresh workspace), run all its cells with JupyterLab's own command,
    wait until the kernel is done."""
    page = lab["page"]
    page.goto(f"{lab['url']}/lab/tree/notebooks/{name}?token={lab['token']}&reset")
    page.wait_for_function(f"(name) => {{ const s = ({STATE})(name); "
                           "return s && s.status === 'idle'; }", arg=name, timeout=120_000)
    assert page.locator(".jp-Dialog").count() == 0, "a dialog (kernel picker?) opened"
    page.evaluate(f"""(name) => {{
      const panel = ({PANEL})(name);
      window.jupyterapp.shell.activateById(panel.id);
      return window.jupyterapp.commands.execute('notebook:run-all-cells');
    }}""", name)
    deadline = time.monotonic() + timeout_s
    while True:
        state = page.evaluate(STATE, name)
        if state["errors"] or (state["ran"] == state["cells"] and state["status"] == "idle"):
            time.sleep(1)  # let the last outputs render
            state = page.evaluate(STATE, name)
            break
        assert time.monotonic() < deadline, f"{name} still running after {timeout_s} s: {state}"
        time.sleep(1)
    shot = lab["root"] / f"{name}.png"
    page.screenshot(path=str(shot), full_page=True)
    return state | {"figures": page.locator(".jp-OutputArea-output img").count(),
                    "screenshot": str(shot)}


def test_every_notebook_runs_in_jupyterlab(lab):
    for nb in NOTEBOOKS:
        state = run_all(lab, nb.name)
        seen = f"{nb.name}: {state} (screenshot {state['screenshot']})"
        assert state["kernel"] == "Python 3 (ipykernel)", seen
        assert not state["errors"] and state["ran"] == state["cells"], seen
        assert state["figures"] >= MIN_FIGURES[nb.name[:2]], seen
        page = lab["page"]
        if nb.name.startswith("02"):
            check_review_grid(lab, page)
        if nb.name.startswith("07"):
            check_upload(lab, page)


def check_review_grid(lab, page) -> None:
    """Mark the planted duplicate 'keep', press Apply marks: the report says it was kept."""
    tile = page.locator(".widget-vbox", has=page.locator(".widget-html",
                                                         has_text="face_00000_copy.jpg")).last
    tile.locator(".widget-toggle-button", has_text="keep").click()
    page.locator("button", has_text="Apply marks").click()
    page.locator(".widget-html", has_text="applied 1 mark(s)").wait_for(timeout=30_000)
    report = pd.read_csv(lab["kit"] / "work" / "cleaning_report.csv").set_index("file")
    assert report.loc["happy/face_00000_copy.jpg", "reason"] == "kept_on_review"
    assert report.loc["happy/face_00000_copy.jpg", "outcome"] == "kept"


def check_upload(lab, page) -> None:
    """Upload a photo through notebook 07's widget: it is saved and gets a label."""
    photo = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    with page.expect_file_chooser() as chooser:  # the widget's <input> is not in the page
        page.locator("button.widget-upload").click()
    chooser.value.set_files(photo)
    answer = page.locator(".widget-output", has_text="uploads/grace_hopper.jpg").first
    answer.wait_for(timeout=60_000)
    assert (lab["kit"] / "work" / "uploads" / "grace_hopper.jpg").is_file()
    text = answer.inner_text()
    assert '"label": "happy"' in text or '"label": "sad"' in text, text
