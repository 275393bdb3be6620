"""A learner's JupyterLab: the notebooks whose point is the browser, run with Run All.

JupyterLab runs from the kit's environment on 127.0.0.1 with a token, over a copy of the kit
whose notebooks have the course run's parameters injected, on a copy of that run's work and
data folders (conftest's `course`: the notebooks before them have run). Debian's `chromium`,
driven by the `playwright` package (`playwright install` is not needed, nor possible offline),
opens each notebook with widgets (02 review, 07 upload and webcam, 09 capture) and runs it
through JupyterLab's own "run all cells" command. Checked per notebook: the kernel is "Python 3
(ipykernel)" with no kernel picker, every code cell ran, no error output, the figures are <img>
elements; in 02 the review grid applies a mark to the cleaning report; in 07 a photo uploaded
through the widget gets a label, and the live webcam (Chromium's fake camera playing a .y4m made
here from the shipped photo) shows a face box and a label, and says so when the camera is
refused; in 09 a camera frame saved as "happy" lands in own_faces and the delete button removes
it. A screenshot of each notebook is saved in the test's temporary folder (its path is printed
on failure). The other notebooks' outputs are checked headless, on the course run.
"""

import json
import os
import re
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
from PIL import Image

from conftest import FACE, PHOTO, REPO, chromium, copy_course

pytestmark = pytest.mark.browser

#: The notebooks with widgets, and the figures (<img> outputs) each shows at least in a QUICK
#: run on generated faces.
MIN_FIGURES = {"02": 1, "07": 2, "09": 1}
NOTEBOOKS = [nb for nb in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
             if nb.name[:2] in MIN_FIGURES]
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


def write_y4m(path, img: Image.Image, frames: int = 5):
    """A raw video file of `img` still for `frames` frames, as Chromium's fake camera plays it
    (YUV4MPEG2, 4:2:0: a full-size Y plane, then Cb and Cr at half size)."""
    img = img.convert("RGB").crop((0, 0, img.width // 2 * 2, img.height // 2 * 2))
    y, cb, cr = img.convert("YCbCr").split()
    half = (img.width // 2, img.height // 2)
    planes = y.tobytes() + b"".join(plane.resize(half, Image.Resampling.BOX).tobytes()
                                    for plane in (cb, cr))
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{img.width} H{img.height} F30:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            f.write(b"FRAME\n" + planes)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(course, tmp_path_factory):
    browser_path = chromium()
    import papermill as pm

    root = tmp_path_factory.mktemp("lab")
    kit = root / "kit"
    shutil.copytree(REPO / "helpers", kit / "helpers")
    copied = copy_course(course, kit, leave_out=("executed",))
    (kit / "notebooks").mkdir()
    params = {k: v for k, v in copied["params"].items() if k in ("QUICK", "WORK_DIR", "DATA_DIR")}
    for nb in NOTEBOOKS:
        pm.execute_notebook(nb, kit / "notebooks" / nb.name, parameters=params,
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

    camera = write_y4m(root / "camera.y4m", PHOTO)  # the fake camera films the shipped photo
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_path, args=[
            "--no-sandbox", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={camera}"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        yield {"page": page, "url": url, "token": token, "work": copied["work"], "root": root}
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


def test_the_widget_notebooks_run_in_jupyterlab(lab):
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
            check_webcam(lab, page, nb.name)
        if nb.name.startswith("09"):
            check_capture(lab, page)


def check_review_grid(lab, page) -> None:
    """Mark the planted duplicate 'keep', press Apply marks: the report says it was kept."""
    tile = page.locator(".widget-vbox", has=page.locator(".widget-html",
                                                         has_text="face_00000_copy.jpg")).last
    tile.locator(".widget-toggle-button", has_text="keep").click()
    page.locator("button", has_text="Apply marks").click()
    page.locator(".widget-html", has_text="applied 1 mark(s)").wait_for(timeout=30_000)
    report = pd.read_csv(lab["work"] / "cleaning_report.csv").set_index("file")
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
    assert (lab["work"] / "uploads" / "grace_hopper.jpg").is_file()
    text = answer.inner_text()
    assert '"label": "happy"' in text or '"label": "sad"' in text, text


def run_in_kernel(page, name: str, code: str) -> str:
    """Run `code` in the notebook's kernel (as a console would, no cell); its reply's status."""
    return page.evaluate(f"""async ([name, code]) => {{
      const kernel = ({PANEL})(name).sessionContext.session.kernel;
      const reply = await kernel.requestExecute({{code, store_history: false}}).done;
      return reply.content.status;
    }}""", [name, code])


def _overlap(a, b) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    inter = max(w, 0) * max(h, 0)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


ANSWER = r"(happy|sad) \d+% \(face at x (\d+), y (\d+), (\d+)x(\d+) px\)"


def check_webcam(lab, page, name: str) -> None:
    """Start notebook 07's webcam on Chromium's fake camera (the shipped photo): the served
    model (drawn faces, no face step) labels the whole frame; the same model with a photo face
    step draws a box on the photo's face with a label; a refused camera says so."""
    widget = page.locator(".kit-webcam")
    button, status = widget.locator("button.kit-webcam-start"), widget.locator(".kit-webcam-status")
    answer = widget.locator(".kit-webcam-answer")
    button.click()
    page.wait_for_function(
        "() => /whole frame: (happy|sad) \\d+%/.test("
        "document.querySelector('.kit-webcam-answer').textContent)", timeout=90_000)
    assert "Camera on" in status.inner_text(), status.inner_text()

    from helpers.bundle import load_card, new_bundle, save_card
    from helpers.faces import FaceStep, crop_box

    model, card = load_card(lab["work"] / "models" / "served")
    photos = new_bundle(lab["work"] / "models" / "webcam_photos")
    shutil.copy(model, photos / model.name)
    save_card(photos, card | {"face_step": FaceStep("photos").to_dict(), "made_by": "tests"})
    code = f"webcam.classifier = load_classifier({str(photos)!r})"
    assert run_in_kernel(page, name, code) == "ok"
    page.wait_for_function(
        "(pattern) => new RegExp(pattern).test("
        "document.querySelector('.kit-webcam-answer').textContent)", arg=ANSWER, timeout=90_000)
    text = answer.inner_text()
    [(label, *box)] = re.findall(ANSWER, text)
    overlay = widget.locator(".kit-webcam-overlay")
    width, height = map(int, overlay.get_attribute("data-frame").split("x"))
    scale = width / PHOTO.width
    assert height == round(PHOTO.height * scale), (width, height)
    face = tuple(round(v * scale) for v in FACE)  # the box is the crop around it, as predict's
    expected = crop_box(face, (width, height), FaceStep("photos").rules.margin)
    assert _overlap(list(map(int, box)), expected) > 0.7, (text, expected)
    drawn = json.loads(overlay.get_attribute("data-boxes"))
    assert len(drawn) == 1, drawn
    alpha = page.evaluate("""() => {
      const canvas = document.querySelector('.kit-webcam-overlay');
      const [x, y, w, h] = JSON.parse(canvas.dataset.boxes)[0];
      return canvas.getContext('2d').getImageData(x + 1, y + Math.round(h / 2), 1, 1).data[3];
    }""")
    assert alpha > 0, "no box drawn on the overlay"
    shot = lab["root"] / "webcam.png"
    widget.screenshot(path=str(shot))

    button.click()  # Stop camera
    assert "Camera off" in status.inner_text()
    page.evaluate("""() => { navigator.mediaDevices.getUserMedia = () =>
      Promise.reject(new DOMException('refused', 'NotAllowedError')); }""")
    button.click()
    status.filter(has_text="permission was denied").wait_for(timeout=10_000)
    assert "Upload photos" in status.inner_text()
    page.evaluate("() => Object.defineProperty(navigator, 'mediaDevices', {value: undefined})")
    button.click()
    status.filter(has_text="https or localhost").wait_for(timeout=10_000)
    assert "Upload photos" in status.inner_text(), status.inner_text()


def check_capture(lab, page) -> None:
    """Notebook 09's capture widget: a frame of the fake camera saved as "happy" is a picture
    in own_faces/happy; the delete button removes the folder and says how many went."""
    capture = page.locator(".widget-vbox", has=page.locator("button", has_text="Save as happy"))
    widget = capture.last.locator(".kit-webcam")  # its own camera, not the notebook's later one
    widget.locator("button.kit-webcam-start").click()
    widget.locator(".kit-webcam-answer", has_text="%").wait_for(timeout=90_000)
    page.locator("button", has_text="Save as happy").click()
    page.locator(".widget-label", has_text="saved happy").wait_for(timeout=30_000)
    saved = list((lab["work"] / "own_faces" / "happy").iterdir())
    assert len(saved) == 1 and saved[0].suffix == ".jpg", saved
    page.locator("button", has_text="Delete my pictures").click()
    page.locator(".widget-label", has_text="1 pictures deleted").wait_for(timeout=30_000)
    assert not (lab["work"] / "own_faces").exists()
