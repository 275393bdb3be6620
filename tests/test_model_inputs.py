"""A saved model is usable on its own: raw RGB pixels in, P(sad) out, no kit code needed.

The greyscale conversion and the scaling to [0, 1] are layers inside the model, so someone
else's program that has a picture's pixels (here: numpy from PIL) and only Keras, or only the
LiteRT interpreter, gets the same probability as `helpers.predict` on that picture's file.
"""

import numpy as np
import pytest
from PIL import Image

from helpers.bundle import model_card, new_bundle, save_card
from helpers.faces import FaceStep
from helpers.model import build_model, compile_model, model_channels
from helpers.predict import classify_images, load_classifier

SIZE = 48


def save_bundle(model, folder, channels: int = 1):
    """`model` saved as the kit saves one: a folder with the model file and its card."""
    new_bundle(folder)
    path = folder / "model.keras"
    model.save(path)
    save_card(folder, model_card(["happy", "sad"], SIZE, channels, FaceStep("none"),
                                 made_by="tests"))
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The kit's grey model with trained-looking weights, saved as notebook 05 saves it, and
    two pictures (bright and dark) as files."""
    import keras

    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    x = rng.integers(0, 90, (64, SIZE, SIZE, 3)).astype(np.float32)
    y = np.arange(64) % 2
    x[y == 1, SIZE // 2:] += 150  # class 1 ("sad"): a bright lower half
    model = compile_model(build_model(SIZE, 1), learning_rate=3e-3)
    model.fit(x, y, batch_size=16, epochs=3, verbose=0)
    folder = tmp_path_factory.mktemp("model")
    path = save_bundle(model, folder / "trained")
    pictures = []
    for i, image in enumerate(x[[0, 1]].astype(np.uint8)):  # already the model's size
        pictures.append(folder / f"picture_{i}.png")
        Image.fromarray(image).save(pictures[-1])
    return path, pictures


def kit_probabilities(model_path, pictures) -> np.ndarray:
    results = classify_images(load_classifier(model_path), pictures)
    return np.array([r["probabilities"]["sad"] for r in results])


def raw_pixels(pictures) -> np.ndarray:
    """What any program has: the RGB pixels of each file, uint8, no kit code."""
    return np.stack([np.asarray(Image.open(p).convert("RGB")) for p in pictures])


def test_the_model_takes_raw_rgb_pixels_and_says_it_works_in_grey(trained):
    import keras

    model = keras.models.load_model(trained[0])
    assert model.input_shape == (None, SIZE, SIZE, 3)
    assert [layer.name for layer in model.layers[:2]] == ["greyscale", "scale_to_0_1"]
    assert model_channels(model) == 1


def test_a_keras_file_alone_gives_the_kits_answer_on_raw_pixels(trained):
    import keras

    model_path, pictures = trained
    model = keras.models.load_model(model_path)  # plain Keras, safe mode: no kit layers
    p_sad = model.predict(raw_pixels(pictures), verbose=0).ravel()  # uint8 straight in
    expected = kit_probabilities(model_path, pictures)
    assert not np.allclose(expected, expected[0])  # the two pictures get different answers
    np.testing.assert_allclose(p_sad, expected, atol=1e-4)  # the kit rounds to 4 decimals


@pytest.mark.parametrize("quantize", [False, True], ids=["float32", "int8"])
def test_a_tflite_file_alone_gives_the_kits_answer_on_raw_pixels(trained, tmp_path, quantize):
    import keras
    from ai_edge_litert.interpreter import Interpreter

    from helpers.export import export_tflite

    model_path, pictures = trained
    calibration = raw_pixels(pictures).astype(np.float32)
    bundle = tmp_path / "exported"
    new_bundle(bundle)
    tflite = export_tflite(keras.models.load_model(model_path), bundle / "model.tflite",
                           quantize=quantize, representative_images=calibration)

    interpreter = Interpreter(model_path=str(tflite))  # the LiteRT interpreter, nothing else
    interpreter.allocate_tensors()
    [given], [answer] = interpreter.get_input_details(), interpreter.get_output_details()
    assert tuple(given["shape"]) == (1, SIZE, SIZE, 3) and given["dtype"] == np.float32
    p_sad = []
    for pixels in raw_pixels(pictures):
        interpreter.set_tensor(given["index"], pixels[np.newaxis].astype(np.float32))
        interpreter.invoke()
        p_sad.append(float(interpreter.get_tensor(answer["index"]).ravel()[0]))

    (bundle / "card.json").write_bytes(model_path.with_name("card.json").read_bytes())
    kit = kit_probabilities(tflite, pictures)
    np.testing.assert_allclose(p_sad, kit, atol=1e-4)
    keras_answer = kit_probabilities(model_path, pictures)
    np.testing.assert_allclose(kit, keras_answer, atol=0.05 if quantize else 1e-4)


def test_a_model_from_the_kit_before_preprocessing_moved_inside_is_refused(tmp_path):
    """A model that takes 1-channel [0, 1] pictures (the old recipe) would get raw pixels now:
    the input-shape check says so instead of giving wrong answers."""
    import keras

    old = keras.Sequential([keras.Input((SIZE, SIZE, 1)), keras.layers.GlobalAveragePooling2D()])
    path = save_bundle(old, tmp_path / "old")
    with pytest.raises(ValueError, match=r"takes 48x48x3 pictures \(raw RGB pixels\), but "
                                         r"model.keras takes 48x48x1.*older kit"):
        load_classifier(path)


def test_the_cards_channels_must_match_what_the_model_does_inside(trained, tmp_path):
    import keras

    model_path, _ = trained
    # the card says colour; the model makes grey
    copy = save_bundle(keras.models.load_model(model_path), tmp_path / "copy", channels=3)
    with pytest.raises(ValueError, match="works on 3-channel pictures, but the convolutions of "
                                         "model.keras see 1"):
        load_classifier(copy)
