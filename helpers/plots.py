"""Pictures for the notebooks: image grids, training curves, confusion matrix, ROC curve, a photo
with its faces labelled."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.metrics import ConfusionMatrixDisplay, RocCurveDisplay

from helpers.images import ImageError, model_view, open_image


def show_code(*functions: Callable):
    """The source code of `functions`, for a notebook to show (syntax-highlighted) what a helper
    it calls does: the code in view is the code that runs."""
    from IPython.display import Code

    return Code("\n\n".join(inspect.getsource(f) for f in functions), language="python")


def show_images(
    images: Sequence[str | Path | np.ndarray],
    titles: Sequence[str] | None = None,
    ncols: int = 8,
    size: float = 1.6,
) -> plt.Figure:
    """A grid of images with optional titles: file paths, or arrays of raw pixels (0-255, as
    `load_image` and the pipeline give them) or of floats in [0, 1] (as `model_view` gives)."""
    n = max(len(images), 1)
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * (size + 0.3)))
    for ax in np.atleast_1d(axes).ravel():
        ax.axis("off")
    for i, (ax, item) in enumerate(zip(np.atleast_1d(axes).ravel(), images)):
        if isinstance(item, np.ndarray):
            pixels = item.squeeze()
        else:
            try:
                pixels = np.asarray(open_image(item))
            except ImageError as err:
                ax.text(0.5, 0.5, err.reason, ha="center", va="center", fontsize=8, wrap=True)
                pixels = None
        if pixels is not None:
            unit = np.issubdtype(pixels.dtype, np.floating) and pixels.max(initial=0) <= 1
            pixels = np.clip(np.asarray(pixels, dtype=np.float32) / (1 if unit else 255), 0, 1)
            ax.imshow(pixels, cmap="gray" if pixels.ndim == 2 else None, vmin=0, vmax=1)
        if titles is not None:
            ax.set_title(titles[i], fontsize=8)
    fig.tight_layout()
    return fig


def plot_history(log: pd.DataFrame, metrics: Sequence[str] = ("loss", "accuracy")) -> plt.Figure:
    """Training and validation curves per epoch from a CSVLogger log."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.5))
    for ax, name in zip(np.atleast_1d(axes), metrics):
        ax.plot(log["epoch"] + 1, log[name], marker="o", label="train")
        if f"val_{name}" in log:
            ax.plot(log["epoch"] + 1, log[f"val_{name}"], marker="o", label="validation")
        ax.set(xlabel="epoch", ylabel=name, title=name)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def plot_confusion_matrix(
    labels: Sequence[int], predicted: Sequence[int], class_names: Sequence[str]
) -> plt.Figure:
    """Counts of true class (rows) against predicted class (columns), each cell named (true or
    false, positive or negative; the second class is the positive one)."""
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    display = ConfusionMatrixDisplay.from_predictions(
        labels, predicted, labels=[0, 1], display_labels=class_names, cmap="Blues",
        colorbar=False, ax=ax
    )
    names = [["true negative", "false positive"], ["false negative", "true positive"]]
    for (row, col), text in np.ndenumerate(display.text_):
        text.set_text(f"{text.get_text()}\n{names[row][col]}")
    ax.set(xlabel="predicted class", ylabel="true class", title="Confusion matrix (test split)")
    fig.tight_layout()
    return fig


def plot_roc_curve(labels: Sequence[int], probabilities: Sequence[float]) -> plt.Figure:
    """True-positive rate against false-positive rate for every threshold."""
    fig, ax = plt.subplots(figsize=(4, 4))
    RocCurveDisplay.from_predictions(labels, probabilities, ax=ax, plot_chance_level=True)
    ax.set_title("ROC curve (test split)")
    fig.tight_layout()
    return fig


def save_figure(fig: plt.Figure, path: str | Path) -> Path:
    """Save a figure (folders created as needed) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path


def show_faces(path: str | Path, result: dict, ax: plt.Axes | None = None) -> plt.Figure:
    """A photo with a box and the predicted label drawn on each face `helpers.predict` found
    (`result` is one of `classify_images`' results)."""
    img = open_image(path)
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 5 * img.height / img.width))
    ax.imshow(img)
    ax.set_axis_off()
    for face in result.get("faces", []):
        x, y, w, h = face["box"]
        colour = "tab:orange" if face["label"] == result.get("label") else "tab:cyan"
        ax.add_patch(plt.Rectangle((x, y), w, h, fill=False, linewidth=2.5, edgecolor=colour))
        ax.text(x, y - 4, f"{face['label']} {face['confidence']:.0%}", color="white",
                fontsize=11, backgroundcolor=colour, va="bottom")
    ax.set_title(Path(path).name + ("" if "faces" in result or "error" not in result
                                    else f": {result['error']}"), fontsize=10)
    return ax.figure


def show_heatmaps(
    images: Sequence[np.ndarray], heatmaps: Sequence[np.ndarray], titles: Sequence[str] = (),
    boxes: Sequence | None = None, ncols: int = 6,
) -> plt.Figure:
    """Each image (raw pixels, 0-255) in grey with its heatmap laid over it in colour (red:
    where the model looked), and optionally a box (x0, y0, x1, y1) drawn on it."""
    n = len(images)
    nrows = max(1, -(-n // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(2 * ncols, 2.2 * nrows), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k >= n:
            continue
        ax.imshow(model_view(images[k])[..., 0], cmap="gray", vmin=0, vmax=1)
        ax.imshow(heatmaps[k], cmap="jet", alpha=0.4, vmin=0, vmax=max(1e-9, heatmaps[k].max()))
        if boxes is not None and boxes[k] is not None:
            x0, y0, x1, y1 = boxes[k]
            ax.add_patch(plt.Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False,
                                       edgecolor="white", linewidth=1.5))
        if k < len(titles):
            ax.set_title(titles[k], fontsize=9)
    fig.tight_layout()
    return fig


def load_training_log(path: str | Path) -> pd.DataFrame:
    """The per-epoch log written by Keras' CSVLogger (notebook 05), for `plot_history`."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No training log at {path}. Run notebook 05_train first.")
    # A run killed between two callbacks' writes can log its last epoch twice: keep the latest.
    return pd.read_csv(path).drop_duplicates("epoch", keep="last").reset_index(drop=True)
