"""Looking inside the CNN (notebook 08): Grad-CAM, occlusion, and handcrafted HOG features.

Grad-CAM asks which places of the last convolution's feature maps pushed the model towards the
label it gave: the gradient of that label's probability with respect to each feature map,
averaged over the map, weights the map; the weighted sum, negatives dropped (ReLU), is the
heatmap. Keras 3 pitfalls avoided: a `Sequential` model has no usable `.input`/`.output` until
it is called, and building a second model around its layers (the keras-io Grad-CAM example)
fails on Sequential models (keras-io issue 1903). Here the layers are replayed one by one on the
images inside one `GradientTape`, so the feature maps and the output come from the same pass,
with the same weights, and no model is nested in another.

Occlusion needs no gradients and works for any model: hide one square of the picture at a time
with grey and see how far the probability of the label falls. Pictures are the model's input,
raw RGB pixels (0-255); HOG gets them grey (`helpers.images.model_view`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf
from skimage.feature import hog

from helpers.workspace import Work


def last_conv_index(model: keras.Sequential) -> int:
    """Index of the layer whose output Grad-CAM explains: the last one before the head that
    still has a grid (height x width x features) and is not pooling."""
    index = None
    for i, layer in enumerate(model.layers):
        if isinstance(layer, (keras.layers.Flatten, keras.layers.GlobalAveragePooling2D)):
            break
        if not isinstance(layer, (keras.layers.MaxPooling2D, keras.layers.Dropout)):
            index = i
    if index is None:
        raise ValueError(f"{model.name} has no convolution layers to explain")
    return index


def grad_cam(
    model: keras.Sequential, images: np.ndarray, threshold: float = 0.5,
    layer_index: int | None = None,
) -> np.ndarray:
    """Grad-CAM heatmaps, one per image, for the label the model gives it (the second class at
    or above `threshold`), resized to the images' height and width and scaled to [0, 1].

    `model` is the trained Sequential model (notebook 05's `model.keras`), `images` a batch
    prepared as for training. Notebook 08 writes the same computation out in its own cell for
    its figures, because a learner can read and change code in front of them but not behind an
    import, and checks it against this function, which the tests and the mouth measurement use.
    """
    layer_index = last_conv_index(model) if layer_index is None else layer_index
    x = tf.convert_to_tensor(images, tf.float32)
    with tf.GradientTape() as tape:
        for i, layer in enumerate(model.layers):
            x = layer(x, training=False)
            if i == layer_index:
                maps = x
                tape.watch(maps)
        p_second = tf.reshape(x, [-1])
        p_label = tf.where(p_second >= threshold, p_second, 1 - p_second)
    grads = tape.gradient(p_label, maps)  # each image's output depends on its own maps only
    weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
    cam = tf.nn.relu(tf.reduce_sum(weights * maps, axis=-1, keepdims=True))
    cam = tf.image.resize(cam, tf.shape(images)[1:3], method="bilinear")[..., 0].numpy()
    peak = cam.max(axis=(1, 2), keepdims=True)
    return np.divide(cam, peak, out=np.zeros_like(cam), where=peak > 0)


def occlusion_map(
    predict: Callable[[np.ndarray], np.ndarray], image: np.ndarray, patch: int = 8,
    stride: int = 4, threshold: float = 0.5,
) -> np.ndarray:
    """How far the probability of the label the model gives `image` (raw pixels, 0-255) falls
    when a mid-grey square (`patch` pixels, moved by `stride`) hides each place: a (height,
    width) map, 0 where hiding changes nothing. `predict` maps a batch of images to the
    probability of the second class."""
    image = np.asarray(image, dtype=np.float32)
    height, width = image.shape[:2]
    p_second = float(predict(image[np.newaxis])[0])
    label = p_second >= threshold
    corners = [(y, x) for y in range(0, height - patch + 1, stride)
               for x in range(0, width - patch + 1, stride)]
    hidden = np.repeat(image[np.newaxis], len(corners), axis=0)
    for k, (y, x) in enumerate(corners):
        hidden[k, y:y + patch, x:x + patch] = 127.5  # mid-grey, halfway from 0 to 255
    p_hidden = np.asarray(predict(hidden), dtype=np.float32).reshape(-1)
    drops = (p_second - p_hidden) if label else (p_hidden - p_second)
    total, count = np.zeros((height, width)), np.zeros((height, width))
    for (y, x), drop in zip(corners, drops):
        total[y:y + patch, x:x + patch] += drop
        count[y:y + patch, x:x + patch] += 1
    return np.clip(total / np.maximum(count, 1), 0, None)


def share_inside(heatmap: np.ndarray, box: Sequence[float]) -> float:
    """The share of a heatmap's mass inside `box` (x0, y0, x1, y1, in the heatmap's pixels)."""
    height, width = heatmap.shape
    ys, xs = np.mgrid[0:height, 0:width] + 0.5  # pixel centres
    x0, y0, x1, y1 = box
    inside = (xs >= x0) & (xs <= x1) & (ys >= y0) & (ys <= y1)
    total = heatmap.sum()
    return float(heatmap[inside].sum() / total) if total > 0 else 0.0


def box_area_share(box: Sequence[float], height: int, width: int) -> float:
    """The share of a (height x width) picture that `box` covers: what a uniform map puts in it."""
    x0, y0, x1, y1 = np.clip(box, 0, [width, height, width, height])
    return float(max(0.0, x1 - x0) * max(0.0, y1 - y0) / (height * width))


def mouth_boxes(work: Work, files: Sequence[str], image_size: int) -> list | None:
    """Where the mouth is in each clean file (`split.csv`'s `file` column), in the pixels of the
    `image_size` square the model sees; None if the faces were not generated by the kit (only
    the generator knows where it drew the mouth)."""
    mouths = work.json("collect").get("mouths")
    if not mouths:
        return None
    report = work.table("cleaning_report").set_index("output")
    boxes = []
    for file in files:
        row = report.loc[f"clean/{file}"]
        sx, sy = image_size / row["width"], image_size / row["height"]  # the resize squashes
        x0, y0, x1, y1 = mouths[row["file"]]
        boxes.append((x0 * sx, y0 * sy, x1 * sx, y1 * sy))
    return boxes


def hog_features(images: np.ndarray, pixels_per_cell: int = 8) -> np.ndarray:
    """Histogram-of-oriented-gradients descriptors (scikit-image), one row per grey image
    (shape (size, size, 1), e.g. from `helpers.images.model_view`):
    in each cell of `pixels_per_cell` squared pixels, how much edge there is in each of 9
    directions, normalised over blocks of 2x2 cells."""
    return np.stack([hog(image[..., 0], orientations=9,
                         pixels_per_cell=(pixels_per_cell, pixels_per_cell),
                         cells_per_block=(2, 2)) for image in images])


def hog_picture(image: np.ndarray, pixels_per_cell: int = 8) -> np.ndarray:
    """The HOG descriptor of one grey image drawn as a picture: a star of strokes per cell,
    each stroke as bright as the edges in its direction."""
    _, picture = hog(image[..., 0], orientations=9,
                     pixels_per_cell=(pixels_per_cell, pixels_per_cell), cells_per_block=(2, 2),
                     visualize=True)
    return picture
