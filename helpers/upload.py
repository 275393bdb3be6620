"""Classify your own photo in JupyterLab: an upload button, or a path box for files already on
disk (notebook 07).

Each picture is saved under `folder` (uploads never overwrite one another), classified with
`helpers.predict.classify_images` (the same face step, resizing and threshold as every other
prediction path) and shown with a box and the label on each face. In a headless run the widget
is displayed but never used; the notebook classifies its `IMAGES` parameter instead.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import display

from helpers.plots import show_faces
from helpers.predict import Classifier, classify_images


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
        """Save the uploaded files under `folder` and classify them."""
        self.folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for item in self.upload.value:
            name = Path(item["name"])
            path, n = self.folder / name.name, 0
            while path.exists():  # never overwrite an earlier upload
                n += 1
                path = self.folder / f"{name.stem}_{n}{name.suffix}"
            path.write_bytes(bytes(item["content"]))
            paths.append(path)
        return self.classify(paths)

    def classify_path(self, text: str) -> list[dict]:
        """Classify a file, or every file in a folder, typed into the path box."""
        if not text.strip():
            self.output.append_stdout("Type the path of a photo or of a folder of photos first.\n")
            return []
        path = Path(text.strip()).expanduser()
        if path.is_dir():
            return self.classify(sorted(p for p in path.iterdir() if p.is_file()))
        return self.classify([path])

    def classify(self, paths: Sequence[Path]) -> list[dict]:
        """Classify `paths` and show each picture with its answer."""
        results = classify_images(self.classifier, paths)
        self.results.extend(results)
        with self.output:
            for path, result in zip(paths, results):
                print(json.dumps(result, ensure_ascii=False))
                if "label" in result or "faces" in result:  # a picture (with or without faces)
                    figure = show_faces(path, result)
                    display(figure)
                    plt.close(figure)
        return results
