"""The CNN recipes: the kit's default Sequential Conv2D model and the seed tutorial's model.

Notebook 04 defines the default model in full view; `build_model` is the same recipe for
scripts and benchmarks (a test checks the two stay identical).
"""

from __future__ import annotations

import math

import keras
from keras import layers

#: Training defaults of the recipe (the notebooks' parameters use the same values).
IMAGE_SIZE = 48  # FER-style faces are 48x48: the native size, no detail lost or invented
CHANNELS = 1  # grey: the FER faces are grey, and colour says little about expression
BATCH_SIZE = 32
EPOCHS = 25
LEARNING_RATE = 2e-3  # peak of the warmup + cosine schedule in `compile_model`
MIN_STEPS = 1200  # fewest weight updates in a training run: small folders get more epochs


def training_epochs(
    n_images: int, batch_size: int = BATCH_SIZE, epochs: int = EPOCHS, min_steps: int = MIN_STEPS
) -> int:
    """`epochs`, or more if `epochs` passes over `n_images` make fewer than `min_steps` updates.

    An epoch is one weight update per batch: 700 images in batches of 32 are 22 updates, so 25
    epochs stop after 550, often before the model has found the mouth. Notebook 05 applies the
    same rule (`benchmarks/EXPERIMENTS.md`, fifth round).
    """
    return max(epochs, math.ceil(min_steps / math.ceil(n_images / batch_size)))


def build_model(
    image_size: int = IMAGE_SIZE, channels: int = CHANNELS, dropout: float = 0.3
) -> keras.Sequential:
    """The kit's default recipe: four convolution blocks, a small flattened head, sigmoid.

    Each convolution is Conv2D-BatchNorm-ReLU; block 1 has one (16 filters), blocks 2-4 two
    (32, 64, 128), and max-pooling ends every block (48, 24, 12, 6, 3). A 3x3 grid of 128
    features is left, which Flatten keeps in place (the mouth is at the bottom): 1,153 weights
    in the head instead of the seed tutorial's 3.7 million. About 293k parameters in all, 12.6x
    fewer. `dropout=0` leaves the Dropout layer out (notebook 05's unregularised model).
    """

    def convolution(filters: int) -> list[keras.layers.Layer]:
        return [
            layers.Conv2D(filters, 3, padding="same", use_bias=False),
            layers.BatchNormalization(momentum=0.9),
            layers.ReLU(),
        ]

    return keras.Sequential(
        [
            keras.Input(shape=(image_size, image_size, channels)),
            *convolution(16),
            layers.MaxPooling2D(),
            *convolution(32),
            *convolution(32),
            layers.MaxPooling2D(),
            *convolution(64),
            *convolution(64),
            layers.MaxPooling2D(),
            *convolution(128),
            *convolution(128),
            layers.MaxPooling2D(),
            layers.Flatten(),
            *([layers.Dropout(dropout)] if dropout else []),
            layers.Dense(1, activation="sigmoid"),
        ],
        name="happy_sad_cnn",
    )


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
    """The seed tutorial's model, kept for comparison: 3x Conv2D(16/32/16) + Dense(256)."""
    return keras.Sequential(
        [
            keras.Input(shape=(image_size, image_size, channels)),
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


def compile_model(
    model: keras.Model,
    learning_rate: float = LEARNING_RATE,
    steps_per_epoch: int | None = None,
    epochs: int = EPOCHS,
) -> keras.Model:
    """Adam + binary cross-entropy, tracking accuracy, precision, recall and ROC-AUC.

    With `steps_per_epoch` (batches per epoch) the learning rate warms up over the first fifth
    of the epochs and then follows a cosine curve down to zero at the end of `epochs`: big
    steps early, small careful steps at the end. Without it the learning rate stays constant.
    """
    if steps_per_epoch:
        warmup = steps_per_epoch * max(1, epochs // 5)
        learning_rate = keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=learning_rate / 10,
            decay_steps=max(1, steps_per_epoch * epochs - warmup),
            warmup_target=learning_rate,
            warmup_steps=warmup,
        )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="binary_crossentropy",
        metrics=[
            "accuracy",
            keras.metrics.Precision(name="precision"),
            keras.metrics.Recall(name="recall"),
            keras.metrics.AUC(name="auc"),
        ],
    )
    return model
