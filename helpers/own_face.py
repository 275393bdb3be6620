"""Your own face, few pictures (notebook 09): capture, load, transfer learning, delete.

The learner's pictures live in `WORK_DIR/own_faces/<class>/` only: the capture widget
(`CaptureWidget`: the notebook 07 webcam with a save button per class, and an upload button
per class) writes them there, `delete_own_faces` removes that folder with everything in it.
Without pictures of their own (a headless run), `stand_in_faces` draws new faces with
another seed, in a folder of its own named as a stand-in, never the course's test split.

Every picture goes through the start model's face step and resizing (`helpers.faces`,
`helpers.images`), as in prediction. Transfer learning keeps the start model's convolutional
base (`convolutional_base`: a copy with its weights, up to and including Flatten) and a copy
of its head (`head_copy`), trains the head with the base frozen, then optionally the last
convolution block too (`unfreeze_last_block`) at a low learning rate. The notebook shows those
steps; `train` is the plain Keras loop both they and the from-scratch network use.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from sklearn.model_selection import train_test_split

from helpers.images import open_image, to_array
from helpers.predict import Classifier
from helpers.split import list_pictures
from helpers.workspace import Work

#: The learner's pictures, by class, inside WORK_DIR.
OWN_FACES = "own_faces"
#: Drawn faces standing in for the learner's, inside WORK_DIR ("not your face").
STAND_IN = "own_faces_stand_in"
STAND_IN_NOTE = "stand-in: newly drawn faces, not your face"
#: Pictures of each class a learner is asked for; fewer than MIN_PER_CLASS cannot be split.
PER_CLASS, MIN_PER_CLASS = 20, 5
HEAD_LEARNING_RATE, FINE_TUNE_LEARNING_RATE = 1e-3, 1e-4


def own_faces_folder(work: Work) -> Path:
    """WORK_DIR/own_faces: where the learner's pictures are kept, one folder per class."""
    return work.root / OWN_FACES


def count_pictures(folder: str | Path, class_names: list[str]) -> dict[str, int]:
    """How many files each class folder under `folder` holds (0 where it is missing)."""
    folder = Path(folder)
    return {name: sum(1 for p in (folder / name).glob("*") if p.is_file())
            if (folder / name).is_dir() else 0 for name in class_names}


def delete_own_faces(work: Work) -> int:
    """Delete WORK_DIR/own_faces with every picture in it; return how many files went."""
    folder = own_faces_folder(work)
    if folder.is_symlink():
        raise ValueError(f"{folder} is a link: delete what it points to yourself, then the link.")
    if not folder.exists():
        return 0
    if not folder.is_dir():
        raise ValueError(f"{folder} is a file, not the folder of your pictures: delete or move "
                         "it yourself.")
    files = sum(1 for p in folder.rglob("*") if p.is_file())
    shutil.rmtree(folder)
    return files


def stand_in_faces(work: Work, per_class: int = PER_CLASS, seed: int = 42) -> Path:
    """New drawn faces in WORK_DIR/own_faces_stand_in/<class>/, from `seed` + 9000 (never
    the course's own faces or its test split), for a run without pictures of your own."""
    from helpers.synthetic import CLASS_NAMES, generate_dataset

    folder = work.root / STAND_IN
    if folder.exists():
        classes = "|".join(CLASS_NAMES)  # what generate_dataset writes, and nothing else
        made = re.compile(rf"README\.txt|(?:{classes})(?:/face_\d{{5}}\.(?:jpg|png|bmp))?")
        other = [p for p in sorted(folder.rglob("*"))
                 if not made.fullmatch(p.relative_to(folder).as_posix())]
        if other:
            raise ValueError(f"{folder} holds {other[0].relative_to(folder)}, which the kit did "
                             "not draw; it replaces this folder whole, so move your file out "
                             f"first (your own pictures go in {own_faces_folder(work)}).")
        shutil.rmtree(folder)
    generate_dataset(folder, n_per_class=per_class, seed=seed + 9000, dirty=False)
    (folder / "README.txt").write_text(STAND_IN_NOTE + "\n", encoding="utf-8")
    return folder


@dataclass
class OwnPictures:
    """The pictures of a folder as the start model sees them: `images` (n, size, size, 3)
    raw RGB pixels, `labels`, `files`; `skipped` the files without a face (or unreadable),
    each with the reason."""

    images: np.ndarray
    labels: np.ndarray
    files: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)


def load_pictures(folder: str | Path, classifier: Classifier,
                  use_face_step: bool = True) -> OwnPictures:
    """Every picture in `folder/<class>/` through `classifier`'s face step (the largest
    face) and resizing, as predictions are; with `use_face_step` False each picture is used
    whole (the stand-in's drawn faces: the detector misses many cartoons). The class folders
    must be the model's classes."""
    folder = Path(folder)
    files = list_pictures(folder)  # two classes, 5 pictures each at least, or a clear error
    classes = sorted(files["class"].unique())
    if classes != list(classifier.class_names):
        raise ValueError(f"{folder} holds the classes {classes}, but the model knows "
                         f"{list(classifier.class_names)}: name the folders like that.")
    images, labels, kept, skipped = [], [], [], []
    for file, label in zip(files["file"], files["label"]):
        try:
            img = open_image(folder / file)
            pictures = classifier.face_step.pictures(img) if use_face_step else [(None, img)]
        except ValueError as err:  # ImageError: unreadable, too large, not a picture
            skipped.append((file, str(err)))
            continue
        if not pictures:
            skipped.append((file, "no face found"))
            continue
        images.append(to_array(pictures[0][1], classifier.image_size))
        labels.append(int(label))
        kept.append(file)
    size = classifier.image_size
    return OwnPictures(np.stack(images) if images else np.zeros((0, size, size, 3), np.uint8),
                       np.asarray(labels, dtype=int), kept, skipped)


def hold_out(pictures: OwnPictures, share: float = 0.3, seed: int = 42) -> tuple[dict, dict]:
    """A seeded split, stratified by class: (train, held_out), each {"x", "y", "files"}."""
    counts = np.bincount(pictures.labels, minlength=2)
    if counts.min() < MIN_PER_CLASS:
        raise ValueError(f"{counts.tolist()} usable pictures per class: need {MIN_PER_CLASS} of "
                         f"each at least (about {PER_CLASS} is better). Capture some more.")
    index = np.arange(len(pictures.labels))
    train, test = train_test_split(index, test_size=share, stratify=pictures.labels,
                                   random_state=seed)
    files = np.asarray(pictures.files)

    def part(rows: np.ndarray) -> dict:
        rows = np.sort(rows)
        return {"x": pictures.images[rows], "y": pictures.labels[rows],
                "files": files[rows].tolist()}

    return part(train), part(test)


def inner_network(model: keras.Model) -> keras.Model:
    """The kit's Sequential network inside `model` (a mirror-averaged served model wraps it)."""
    if isinstance(model, keras.Sequential):
        return model
    inner = [layer for layer in model.layers if isinstance(layer, keras.Sequential)]
    if len(inner) != 1:
        raise ValueError(f"{model.name} is not one of the kit's Sequential networks")
    return inner[0]


def convolutional_base(model: keras.Model) -> keras.Sequential:
    """A copy, with its weights, of `model`'s layers up to and including Flatten (its
    preprocessing and convolution blocks): everything but the head."""
    network = inner_network(model)
    names = [layer.name for layer in network.layers]
    ends = [i for i, layer in enumerate(network.layers)
            if isinstance(layer, (keras.layers.Flatten, keras.layers.GlobalAveragePooling2D))]
    if not ends:
        raise ValueError(f"{network.name} has no Flatten layer: no convolutional base to reuse "
                         f"(its layers: {', '.join(names)})")
    copy = keras.models.clone_model(network)
    copy.set_weights(network.get_weights())
    base = keras.Sequential([keras.Input(network.input_shape[1:]),
                             *copy.layers[:ends[0] + 1]], name="convolutional_base")
    for layer, original in zip(base.layers, network.layers):
        layer.trainable = original.trainable  # the frozen greyscale layer stays frozen
    return base


def head_copy(model: keras.Model) -> keras.layers.Layer:
    """A copy, with its weights, of `model`'s output layer. The question is the same (happy or
    sad?), so the start model's answers are a better start for the head than random weights."""
    head = inner_network(model).layers[-1]
    copy = head.__class__.from_config({**head.get_config(), "name": "head"})
    copy.build((None, head.kernel.shape[0]))
    copy.set_weights(head.get_weights())
    return copy


def last_block(base: keras.Sequential) -> list[keras.layers.Layer]:
    """The layers of the base's last convolution block: after its second-to-last pooling."""
    pools = [i for i, layer in enumerate(base.layers)
             if isinstance(layer, keras.layers.MaxPooling2D)]
    start = pools[-2] + 1 if len(pools) >= 2 else 0
    return [layer for layer in base.layers[start:]
            if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))]


def unfreeze_last_block(base: keras.Sequential) -> list[str]:
    """Let the last block's convolutions learn again (batch normalisation stays frozen, in
    inference mode, as the keras.io transfer-learning guide advises); return their names."""
    block = last_block(base)
    base.trainable = True
    for layer in base.layers:
        layer.trainable = layer in block
    return [layer.name for layer in block]


def train(model: keras.Model, train_part: dict, epochs: int, learning_rate: float,
          seed: int = 42, batch_size: int = 8) -> keras.Model:
    """Compile (Adam, binary cross-entropy) and fit on `train_part`'s pictures, mirrored at
    random (a mirrored smile is a smile), shuffled by `seed`."""
    keras.utils.set_random_seed(seed)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="binary_crossentropy",
                  metrics=["accuracy"])
    flip = keras.layers.RandomFlip("horizontal", seed=seed)
    data = (tf.data.Dataset.from_tensor_slices((train_part["x"].astype("float32"),
                                                train_part["y"].astype("float32")))
            .shuffle(len(train_part["y"]), seed=seed).batch(batch_size)
            .map(lambda x, y: (flip(x, training=True), y)))
    model.fit(data, epochs=epochs, verbose=0, shuffle=False)  # shuffled above, by `seed`
    return model


def held_out_accuracy(model: keras.Model, part: dict, threshold: float = 0.5) -> dict[str, Any]:
    """Accuracy on the held-out pictures with its 95% Wilson interval (few pictures: wide)."""
    from helpers.evaluate import wilson_interval

    p = np.asarray(model(part["x"].astype("float32"), training=False)).reshape(-1)
    right = int(((p >= threshold).astype(int) == part["y"]).sum())
    return {"accuracy": right / len(part["y"]), "right": right, "pictures": len(part["y"]),
            "interval": wilson_interval(right, len(part["y"]))}


def describe_accuracy(result: dict[str, Any]) -> str:
    """One line for a `held_out_accuracy` result: right of all, and the interval."""
    low, high = result["interval"]
    return (f"{result['right']} of {result['pictures']} right (accuracy {result['accuracy']:.2f}, "
            f"95% interval {low:.2f}–{high:.2f})")


def classifier_for(model: keras.Model, start: Classifier, threshold: float = 0.5) -> Classifier:
    """A Classifier (in memory, never saved) for `model`, seeing pictures as `start` does: for
    the webcam widget."""
    def predict(images: np.ndarray) -> np.ndarray:
        return np.asarray(model(np.asarray(images, dtype="float32"), training=False)).reshape(-1)

    return Classifier(start.path, list(start.class_names), start.image_size, start.channels,
                      start.face_step, predict, threshold, model,
                      start.card | {"made_by": "09_your_own_face", "threshold": threshold})


CAPTURE_LINE = ("Your pictures: in JupyterLab press Start camera, then Save as happy or Save "
                "as sad; a headless run has no camera and goes on.")


def show_capture(classifier: Classifier, work: Work) -> CaptureWidget:
    """Print the one line a headless run sees, show the capture widget, and return it."""
    from IPython.display import display

    capture = CaptureWidget(classifier, work)
    print(CAPTURE_LINE)
    display(capture.widget)
    return capture


class CaptureWidget:
    """The notebook 07 webcam with Save as <class> buttons, an upload button per class and a
    Delete my pictures button; every picture goes to WORK_DIR/own_faces/<class>/."""

    def __init__(self, classifier: Classifier, work: Work):
        import ipywidgets as widgets

        from helpers.webcam import WebcamWidget

        self.work, self.class_names = work, list(classifier.class_names)
        self.webcam = WebcamWidget(classifier)
        self.status = widgets.Label(self.describe())
        saves = []
        for name in self.class_names:
            save = widgets.Button(description=f"Save as {name}")
            save.on_click(lambda _, name=name: self._report(self.save(name)))
            upload = widgets.FileUpload(accept="image/*", multiple=True,
                                        description=f"Upload {name}")
            upload.observe(lambda change, name=name: self._report(self.add_uploads(
                name, change["new"])), names="value")
            saves += [save, upload]
        delete = widgets.Button(description="Delete my pictures", button_style="danger")
        delete.on_click(lambda _: self._report(self.delete()))
        self.widget = widgets.VBox([self.webcam, widgets.HBox(saves), delete, self.status])

    def delete(self) -> str:
        """The delete button: remove WORK_DIR/own_faces, or say why not."""
        try:
            return f"{delete_own_faces(self.work)} pictures deleted"
        except ValueError as err:
            return str(err)

    def save(self, class_name: str) -> str:
        """Keep the camera's last frame as a picture of `class_name`."""
        if class_name not in self.class_names:
            raise ValueError(f"{class_name!r} is not one of {self.class_names}")
        try:
            path = self.webcam.save_frame(own_faces_folder(self.work) / class_name,
                                          f"{class_name}.jpg")
        except ValueError as err:
            return str(err)
        return f"saved {path.name}"

    def add_uploads(self, class_name: str, uploads: Any) -> str:
        """Keep uploaded files (the FileUpload widget's value) as pictures of `class_name`."""
        from helpers.upload import save_upload

        folder = own_faces_folder(self.work) / class_name
        saved = [save_upload(folder, item["name"], bytes(item["content"])) for item in uploads]
        return f"{len(saved)} uploaded as {class_name}"

    def describe(self) -> str:
        counts = count_pictures(own_faces_folder(self.work), self.class_names)
        return ", ".join(f"{n} {name}" for name, n in counts.items()) + \
            f" in {own_faces_folder(self.work)} (about {PER_CLASS} of each)"

    def _report(self, message: str) -> None:
        self.status.value = f"{message}; {self.describe()}"

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
