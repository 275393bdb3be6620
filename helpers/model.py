"""The CNN recipes: the kit's default Sequential Conv2D model and the seed tutorial's model.

One source for each piece of the recipe, so the notebooks and the scripts cannot drift apart:
notebook 04 writes its `keras.Sequential` in a cell from `preprocessing_layers` and the learner's
own `conv_block` and `output_layer` (exercises 3 and 4; `conv_block` here is the reference
answer); `build_model` is that cell for the scripts (a test keeps the two the same, layer for
layer); notebook 05 shows and uses `training_epochs` and
`warmup_cosine`, which `compile_model` uses too (it repeats notebook 05's compile for the
scripts; a test compares the two). What the learner writes in the exercises
(the block, the output layer, the loss, what early stopping watches) stays in the notebooks.

The model takes raw RGB pixels (0-255, shape (size, size, 3)), as any program has them: its
first layers make them grey (when it is built for grey) and scale them to [0, 1], so a saved
`.keras` or `.tflite` file is all someone else's code needs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf
from keras import layers
from sklearn.utils.class_weight import compute_class_weight

from helpers.images import LUMINANCE

#: Training defaults of the recipe (the notebooks' parameters use the same values).
IMAGE_SIZE = 48  # FER-style faces are 48x48: the native size, no detail lost or invented
CHANNELS = 1  # grey: the FER faces are grey, and colour says little about expression
BATCH_SIZE = 32
EPOCHS = 25
LEARNING_RATE = 2e-3  # peak of the warmup + cosine schedule (`warmup_cosine`)
MIN_STEPS = 1200  # fewest weight updates in a training run: small folders get more epochs


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow and make TF ops deterministic (same seed, same result)."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def distribution_strategy(name: str | None, cpus: int = 2) -> tf.distribute.Strategy:
    """The `tf.distribute` strategy to build, compile and train the model under.

    None: TensorFlow's default (one device). "mirrored": `tf.distribute.MirroredStrategy`, a
    copy of the model on every GPU, each batch split between them and the gradients added up;
    with no GPU, the CPU is split into `cpus` logical devices instead (the same code path, for
    tests: not faster). Splitting the CPU is only possible before TensorFlow starts: call this
    before the first tensor is made, or restart the kernel.
    """
    if name is None:
        return tf.distribute.get_strategy()
    if name != "mirrored":
        raise ValueError(f"STRATEGY must be None or 'mirrored', got {name!r}")
    if tf.config.list_physical_devices("GPU"):
        return tf.distribute.MirroredStrategy()
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(cpus)])
    except RuntimeError as err:  # TensorFlow has started: fine if with this split already
        have = len(tf.config.list_logical_devices("CPU"))
        if have != cpus:
            raise RuntimeError(
                f"TensorFlow already started with {have} CPU device(s), so it cannot split the "
                f"CPU into {cpus} now. Restart the kernel and run the notebook from the top "
                f"(Kernel → Restart Kernel and Run All Cells), or set STRATEGY_CPUS to {have}."
            ) from err
    return tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")])


def class_weights(labels: Sequence[int]) -> dict[int, float]:
    """Weights that make each class count equally in the loss, for unbalanced data."""
    y = np.asarray(labels, dtype=int)
    classes = np.unique(y)
    weights = compute_class_weight("balanced", classes=classes, y=y)
    return {int(c): float(w) for c, w in zip(classes, weights)}


def training_epochs(
    n_images: int, batch_size: int = BATCH_SIZE, epochs: int = EPOCHS, min_steps: int = MIN_STEPS
) -> int:
    """`epochs`, or more if `epochs` passes over `n_images` make fewer than `min_steps` updates.

    An epoch is one weight update per batch: 700 images in batches of 32 are 22 updates, so 25
    epochs stop after 550, often before the model has found the mouth. Notebook 05 shows and
    uses this function (`benchmarks/EXPERIMENTS.md`, fifth round).
    """
    return max(epochs, math.ceil(min_steps / math.ceil(n_images / batch_size)))


def preprocessing_layers(channels: int = CHANNELS) -> list[keras.layers.Layer]:
    """The model's first layers: raw RGB pixels (0-255) in, what the convolutions need out.

    `greyscale` (only for `channels=1`) is a frozen Dense(1) without bias: a Dense layer acts on
    the last axis, a pixel's red, green and blue, and its three weights are `LUMINANCE`, so each
    pixel becomes its grey value. `scale_to_0_1` multiplies by 1/255. Built-in layers only, so a
    `.keras` file loads anywhere in safe mode and exports to TFLite.
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {channels}")
    luminance = keras.initializers.Constant([[weight] for weight in LUMINANCE])
    grey = [layers.Dense(1, use_bias=False, kernel_initializer=luminance, trainable=False,
                         name="greyscale")]
    return [*(grey if channels == 1 else []), layers.Rescaling(1 / 255, name="scale_to_0_1")]


def conv_block(filters: int, convolutions: int = 1) -> list[keras.layers.Layer]:
    """`convolutions` times Conv2D-BatchNorm-ReLU with `filters` filters, then MaxPooling2D
    (notebook 04's exercise 3, answered): new layers on every call."""
    block = []
    for _ in range(convolutions):
        block += [layers.Conv2D(filters, 3, padding="same", use_bias=False),
                  layers.BatchNormalization(momentum=0.9), layers.ReLU()]
    return block + [layers.MaxPooling2D()]


def build_model(
    image_size: int = IMAGE_SIZE,
    channels: int = CHANNELS,
    dropout: float = 0.3,
    conv_block=conv_block,
    output_layer: keras.layers.Layer | None = None,
) -> keras.Sequential:
    """The kit's default recipe: preprocessing, four convolution blocks, a small head, sigmoid.

    The input is raw RGB pixels; `preprocessing_layers(channels)` turns them into what the
    convolutions see. Block 1 has one convolution (16 filters), blocks 2-4 two (32, 64, 128),
    and max-pooling ends every block (48, 24, 12, 6, 3). A 3x3 grid of 128 features is left,
    which Flatten keeps in place (the mouth is at the bottom): 1,153 weights in the head
    instead of the seed tutorial's 3.7 million. About 293k parameters in all, 12.6x fewer.
    `dropout=0` leaves the Dropout layer out (notebook 05's unregularised model);
    `conv_block` and `output_layer` (default Dense(1, sigmoid)) are notebook 04's exercises.
    Notebook 04's model cell is this model, written out (a test compares the two).
    """
    if output_layer is None:
        output_layer = layers.Dense(1, activation="sigmoid")
    return keras.Sequential(
        [
            keras.Input(shape=(image_size, image_size, 3)),  # raw RGB pixels, 0-255
            *preprocessing_layers(channels),
            *conv_block(16),
            *conv_block(32, convolutions=2),
            *conv_block(64, convolutions=2),
            *conv_block(128, convolutions=2),
            layers.Flatten(),
            *([layers.Dropout(dropout)] if dropout else []),
            output_layer,
        ],
        name="happy_sad_cnn",
    )


def model_channels(model: keras.Model) -> int | None:
    """The colours the model's first convolution sees: 1 if the model makes pictures grey, 3
    if it keeps colour; None for a model without convolutions. Its input is RGB either way."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            return int(layer.kernel.shape[2])
        if isinstance(layer, keras.Model) and (inner := model_channels(layer)) is not None:
            return inner
    return None


def add_flip_averaging(model: keras.Model) -> keras.Model:
    """Wrap `model` so it answers with the average of its outputs on an image and its mirror.

    A smile mirrored is still a smile, so asking twice and averaging (test-time augmentation)
    evens out some of the model's one-sided mistakes, at twice the prediction cost. The
    result saves as `.keras` and exports to TFLite like any model.
    """
    inputs = keras.Input(shape=model.input_shape[1:])
    mirrored = keras.ops.flip(inputs, axis=2)  # axis 2 = width: left and right swap
    outputs = layers.Average()([model(inputs), model(mirrored)])
    return keras.Model(inputs, outputs, name=f"{model.name}_flip_averaged")


def build_seed_model(image_size: int = 256, channels: int = 3) -> keras.Sequential:
    """The seed tutorial's model, kept for comparison: 3x Conv2D(16/32/16) + Dense(256), on raw
    RGB pixels through the same `preprocessing_layers` (the tutorial divided by 255 too)."""
    return keras.Sequential(
        [
            keras.Input(shape=(image_size, image_size, 3)),
            *preprocessing_layers(channels),
            layers.Conv2D(16, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(16, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dense(256, activation="relu"),
            layers.Dense(1, activation="sigmoid"),
        ],
        name="seed_tutorial_cnn",
    )


def warmup_cosine(
    peak: float, steps_per_epoch: int, epochs: int
) -> keras.optimizers.schedules.LearningRateSchedule:
    """The learning rate for each weight update: it warms up from `peak` / 10 to `peak` over the
    first fifth of `epochs` (at least one epoch), then follows a cosine curve down to zero at
    the end of `epochs`: big steps early, small careful steps at the end."""
    warmup_steps = steps_per_epoch * max(1, epochs // 5)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=peak / 10,
        warmup_target=peak,
        warmup_steps=warmup_steps,
        decay_steps=max(1, steps_per_epoch * epochs - warmup_steps),
    )


def compile_model(
    model: keras.Model,
    learning_rate: float = LEARNING_RATE,
    steps_per_epoch: int | None = None,
    epochs: int = EPOCHS,
) -> keras.Model:
    """Adam + binary cross-entropy, tracking accuracy, precision and recall: notebook 05's
    compile, written out there with the learner's loss (a test keeps the two the same).

    With `steps_per_epoch` (batches per epoch) the learning rate follows `warmup_cosine` over
    `epochs`; without it the learning rate stays constant.
    """
    if steps_per_epoch:
        learning_rate = warmup_cosine(learning_rate, steps_per_epoch, epochs)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="binary_crossentropy",
        metrics=[
            "accuracy",
            keras.metrics.Precision(name="precision"),
            keras.metrics.Recall(name="recall"),
        ],
    )
    return model
