"""Running an exported `.tflite` model with LiteRT, without TensorFlow or Keras.

`TFLiteClassifier` is all that prediction needs of a `.tflite` file, so this module imports
only NumPy and the small LiteRT interpreter (`ai_edge_litert`): `python -m helpers.predict
work/models/float32 photo.jpg` never loads TensorFlow. Exporting a model, which does need
TensorFlow, stays in `helpers.export` (which also re-exports `TFLiteClassifier`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def interpreter_class() -> type:
    """LiteRT's `Interpreter`, or an ImportError that says how to install it."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as error:
        raise ImportError(
            f"LiteRT is missing ({error}): it runs .tflite models and the face detector. Install "
            "the kit's requirements: pip install -r requirements.txt (ai-edge-litert has wheels "
            "for Python 3.11-3.13 on Linux, macOS arm64 and Windows).") from error
    return Interpreter


class TFLiteClassifier:
    """A `.tflite` binary classifier: `predict(images)` returns one probability per image."""

    def __init__(self, path: str | Path, num_threads: int | None = None):
        self.path = Path(path)
        self.interpreter = interpreter_class()(model_path=str(self.path), num_threads=num_threads)
        self.interpreter.allocate_tensors()
        self._input = self.interpreter.get_input_details()[0]
        outputs = self.interpreter.get_output_details()
        shapes = [tuple(int(d) for d in output["shape_signature"]) for output in outputs]
        if shapes != [(-1, 1)] and shapes != [(1, 1)]:
            raise ValueError(f"{self.path.name} gives output shapes {shapes} (-1: any batch), not "
                             "one probability per picture: the kit needs output shape (None, 1)")
        self._output = outputs[0]
        self._batch = int(self._input["shape"][0])

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one image, e.g. (48, 48, 1)."""
        return tuple(int(d) for d in self._input["shape"][1:])

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Probabilities (float32, shape (n,)) for a batch of images shaped like training's."""
        images = np.asarray(images, dtype=np.float32)
        if images.ndim == len(self.input_shape):
            images = images[np.newaxis]
        if images.shape[0] != self._batch:
            self.interpreter.resize_tensor_input(self._input["index"], images.shape)
            self.interpreter.allocate_tensors()
            self._batch = images.shape[0]
        self.interpreter.set_tensor(self._input["index"], images)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self._output["index"]).reshape(-1).copy()
