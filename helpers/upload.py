"""Classify your own photo in JupyterLab: an upload button, or a path box for files already on
disk (notebook 07).

Each picture is saved under `folder` by a name of its own (`save_upload`: the last part of
the uploaded name, shortened to fit the file system with its extension kept, never over an
existing file or through a link); one that cannot be saved gets an error line and stops no
other. Each is classified with `helpers.predict.classify_images` (the same face step,
resizing and threshold as every other prediction path) and shown with a box and the label on
each face. In a headless run the widget is displayed but never used; the notebook classifies
its `IMAGES` parameter instead.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import display

from helpers.images import IMAGE_EXTENSIONS, readable
from helpers.names import fit_name, name_limit
from helpers.plots import show_faces
from helpers.predict import Classifier, classify_images, json_line


def _base_name(name: str) -> str:
    """The last part of an uploaded file's name (never a path), as valid text, never empty."""
    name = name.encode("utf-8", "replace").decode("utf-8").replace("\0", "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    return name if name.strip(". ") else "upload"


def save_upload(folder: Path, name: str, content: bytes) -> Path:
    """Write `content` under `folder` by a new name made from `name`: `name`, then `name_1`,
    ... (exclusive creation: never over a file, never through a link)."""
    folder.mkdir(parents=True, exist_ok=True)
    name = _base_name(name)
    suffix = Path(name).suffix if Path(name).suffix.lower() in IMAGE_EXTENSIONS else ""
    stem, limit = name[:len(name) - len(suffix)], name_limit(folder)
    for n in itertools.count():
        path = folder / fit_name(stem, f"_{n}{suffix}" if n else suffix, limit)
        try:
            file = open(path, "xb")
        except FileExistsError:
            continue
        try:
            with file:
                file.write(content)
        except OSError:
            path.unlink(missing_ok=True)  # never leave half a picture behind
            raise
        return path


class UploadWidget(widgets.VBox):
    """Upload photos (or type a file or folder path) and see the served model's answer.

    `results` holds the answers so far, one `classify_images` result per picture.
    """

    def __init__(self, classifier: Classifier, folder: str | Path):
        self.classifier = classifier
        self.folder = Path(folder)
        self.results: list[dict] = []
        self.upload = widgets.FileUpload(accept="image/*", multiple=True,
                                         description="Upload photos")
        self.path = widgets.Text(placeholder="or a photo's path, or a folder of photos",
                                 layout=widgets.Layout(width="360px"))
        self.button = widgets.Button(description="Classify path")
        self.output = widgets.Output()
        self.upload.observe(lambda _: self.classify_uploads(), names="value")
        self.button.on_click(lambda _: self.classify_path(self.path.value))
        super().__init__([widgets.HBox([self.upload, self.path, self.button]), self.output])

    def classify_uploads(self) -> list[dict]:
        """Save the uploaded files under `folder` and classify them; the uploads that cannot
        be saved come first, each with an error."""
        paths, unsaved = [], []
        for item in self.upload.value:
            try:
                paths.append(save_upload(self.folder, item["name"], bytes(item["content"])))
            except (OSError, ValueError) as err:
                unsaved.append({"path": item["name"], "error": f"{readable(item['name'])}: could "
                                                               f"not be saved ({err})"})
        self.results.extend(unsaved)
        with self.output:
            for result in unsaved:
                print(json_line(result))
        return unsaved + self.classify(paths)

    def classify_path(self, text: str) -> list[dict]:
        """Classify a file, or every file in a folder, typed into the path box."""
        if not text.strip():
            self.output.append_stdout("Type the path of a photo or of a folder of photos first.\n")
            return []
        path = Path(text.strip()).expanduser()
        try:
            paths = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
        except OSError as err:  # a folder without permission, a name too long
            self.output.append_stdout(f"Cannot read {readable(str(path))} ({err.strerror}).\n")
            return []
        return self.classify(paths)

    def classify(self, paths: Sequence[Path]) -> list[dict]:
        """Classify `paths` and show each picture with its answer."""
        results = classify_images(self.classifier, paths)
        self.results.extend(results)
        with self.output:
            for path, result in zip(paths, results):
                print(json_line(result))
                if "label" in result or "faces" in result:  # a picture (with or without faces)
                    figure = show_faces(path, result)
                    display(figure)
                    plt.close(figure)
        return results
