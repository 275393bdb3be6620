"""The model recipes: right shapes and sizes, and the default recipe actually learns."""

import keras
import numpy as np
import pytest

from helpers import model as recipe
from helpers.images import model_view

SEED_PARAMS = 3_696_625  # the seed tutorial's 256x256 RGB model


def test_default_model_outputs_one_probability_per_image():
    model = recipe.build_model(recipe.IMAGE_SIZE, recipe.CHANNELS)
    assert isinstance(model, keras.Sequential)
    images = np.random.default_rng(0).integers(0, 256, (5, recipe.IMAGE_SIZE, recipe.IMAGE_SIZE,
                                                        3), dtype=np.uint8)
    prob = model.predict(images, verbose=0)
    assert prob.shape == (5, 1)
    assert np.all((prob >= 0) & (prob <= 1))
    assert model.layers[-1].activation is keras.activations.sigmoid


def test_default_model_is_at_least_ten_times_smaller_than_the_seed_model():
    assert recipe.build_seed_model().count_params() == SEED_PARAMS
    assert recipe.build_model().count_params() <= SEED_PARAMS / 10


def test_small_folders_train_for_more_epochs_to_make_at_least_min_steps_updates():
    assert (recipe.BATCH_SIZE, recipe.MIN_STEPS) == (32, 1200)
    assert recipe.training_epochs(8_000) == recipe.EPOCHS  # 250 updates an epoch: 6,250
    assert recipe.training_epochs(700) == 55  # 22 updates an epoch: 25 epochs would be 550
    assert recipe.training_epochs(700, epochs=80) == 80  # never fewer than asked for
    assert recipe.training_epochs(700, min_steps=0) == recipe.EPOCHS
    assert recipe.training_epochs(10, batch_size=64) == 1200  # one update an epoch


def test_other_input_sizes_and_colour_build():
    model = recipe.build_model(image_size=64, channels=3)
    assert model.input_shape == (None, 64, 64, 3) and model.output_shape == (None, 1)
    assert recipe.model_channels(model) == 3 and "greyscale" not in [
        layer.name for layer in model.layers]
    smallest = recipe.build_model(image_size=16)  # the smallest IMAGE_SIZE the notebooks allow
    assert smallest.output_shape == (None, 1)
    assert smallest.input_shape == (None, 16, 16, 3) and recipe.model_channels(smallest) == 1
    with pytest.raises(ValueError, match="channels must be 1"):
        recipe.build_model(channels=2)


def test_the_first_layers_make_raw_rgb_pixels_grey_and_scale_them_and_never_train():
    grey, scale = recipe.preprocessing_layers(1)
    (pixels := np.zeros((1, 2, 2, 3), np.float32))[0, 0, 0] = (255, 0, 0)  # one red pixel
    pixels[0, 1, 1] = (100, 150, 200)
    out = np.asarray(scale(grey(pixels)))
    assert out.shape == (1, 2, 2, 1)
    np.testing.assert_allclose(out[0, ..., 0], [[0.299, 0], [0, 0.299 * 100 / 255 + 0.587 * 150
                                                             / 255 + 0.114 * 200 / 255]],
                               rtol=1e-6)
    np.testing.assert_allclose(out[0], model_view(pixels[0]), rtol=1e-6)  # the same outside
    model = recipe.compile_model(recipe.build_model(16, 1), learning_rate=1e-2)
    before = model.get_layer("greyscale").get_weights()[0]
    x = np.random.default_rng(0).integers(0, 256, (8, 16, 16, 3)).astype(np.float32)
    model.fit(x, np.arange(8) % 2, epochs=1, verbose=0)
    assert np.array_equal(model.get_layer("greyscale").get_weights()[0], before)
    assert [layer.name for layer in model.layers[:2]] == ["greyscale", "scale_to_0_1"]
    assert model.count_params() - sum(w.numpy().size for w in model.trainable_weights) > 3


def test_the_notebooks_build_from_the_reference_pieces():
    """build_model takes the learner's conv_block and output_layer (notebook 04's exercises):
    the reference answers give the default model, layer for layer."""
    def configs(model):
        return [{k: v for k, v in layer.get_config().items() if k != "name"}
                for layer in model.layers]
    given = recipe.build_model(48, 1, conv_block=recipe.conv_block,
                               output_layer=keras.layers.Dense(1, activation="sigmoid"))
    assert configs(given) == configs(recipe.build_model())
    assert given.count_params() == recipe.build_model().count_params()


def test_the_unregularised_model_is_the_same_without_its_dropout_layer():
    plain, regularised = recipe.build_model(dropout=0), recipe.build_model()
    assert [type(layer) for layer in regularised.layers if type(layer) is not
            keras.layers.Dropout] == [type(layer) for layer in plain.layers]
    assert regularised.layers[-2].rate == 0.3
    assert plain.count_params() == regularised.count_params()


def test_flip_averaging_averages_the_image_and_its_mirror_and_survives_saving(tmp_path):
    keras.utils.set_random_seed(0)
    model = recipe.build_model()
    images = np.random.default_rng(1).random((4, 48, 48, 3), dtype=np.float32) * 255
    plain = model.predict(images, verbose=0).ravel()
    mirrored = model.predict(images[:, :, ::-1], verbose=0).ravel()
    assert not np.allclose(plain, mirrored)  # the plain model is not mirror-symmetric
    averaged = recipe.add_flip_averaging(model)
    np.testing.assert_allclose(averaged.predict(images, verbose=0).ravel(),
                               (plain + mirrored) / 2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(averaged.predict(images[:, :, ::-1], verbose=0),
                               averaged.predict(images, verbose=0), rtol=1e-5, atol=1e-6)
    averaged.save(tmp_path / "flip.keras")
    reloaded = keras.models.load_model(tmp_path / "flip.keras")
    np.testing.assert_allclose(reloaded.predict(images, verbose=0),
                               averaged.predict(images, verbose=0), rtol=1e-6)


def test_a_few_training_steps_reduce_the_loss_on_a_separable_toy_set():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    size = recipe.IMAGE_SIZE
    x = rng.random((64, size, size, 3), dtype=np.float32) * 50  # raw pixels, 0-255
    y = np.arange(64) % 2
    x[y == 1, : size // 2] += 180  # class 1: bright top half
    model = recipe.compile_model(recipe.build_model(size, 1), learning_rate=3e-3,
                                 steps_per_epoch=4, epochs=5)
    losses = model.fit(x, y, batch_size=16, epochs=5, verbose=0).history["loss"]
    assert losses[-1] < losses[0]


def test_compile_model_without_a_schedule_uses_a_constant_learning_rate():
    model = recipe.compile_model(recipe.build_model(), learning_rate=1e-3)
    assert np.isclose(float(model.optimizer.learning_rate), 1e-3)
    assert model.loss == "binary_crossentropy" or "binary" in str(model.loss).lower()


def test_the_learning_rate_warms_up_over_the_first_fifth_then_decays_to_zero():
    model = recipe.compile_model(recipe.build_model(), learning_rate=2e-3, steps_per_epoch=10,
                                 epochs=25)
    schedule = model.optimizer._learning_rate  # the schedule object behind the optimizer
    rate = {step: float(schedule(step)) for step in (0, 25, 50, 150, 250)}
    assert np.isclose(rate[0], 2e-4) and rate[0] < rate[25] < rate[50]
    assert np.isclose(rate[50], 2e-3)  # 5 of 25 epochs of 10 steps: the peak
    assert rate[50] > rate[150] > rate[250] and rate[250] < 1e-6
    same = recipe.warmup_cosine(2e-3, steps_per_epoch=10, epochs=25)  # notebook 05's schedule
    assert all(np.isclose(float(same(step)), rate[step]) for step in rate)


def test_class_weights_make_each_class_count_equally():
    weights = recipe.class_weights([0, 0, 0, 1])
    assert weights == pytest.approx({0: 4 / 6, 1: 2.0})
    assert 3 * weights[0] == pytest.approx(1 * weights[1])  # both classes weigh the same in all


def test_the_same_seed_gives_the_same_initial_weights():
    def first_kernel(seed):
        recipe.set_seed(seed)
        return recipe.build_model().layers[2].get_weights()[0]  # after greyscale and scaling

    np.testing.assert_array_equal(first_kernel(7), first_kernel(7))
    assert not np.array_equal(first_kernel(7), first_kernel(8))


def test_the_training_log_keeps_the_last_line_of_an_epoch_logged_twice(tmp_path):
    from helpers.plots import load_training_log

    log = tmp_path / "training_log.csv"
    log.write_text("epoch,loss\n0,0.9\n1,0.7\n1,0.6\n2,0.5\n")  # killed between two writes
    assert load_training_log(log).to_dict("list") == {"epoch": [0, 1, 2], "loss": [0.9, 0.6, 0.5]}
    with pytest.raises(FileNotFoundError, match="Run notebook 05_train first"):
        load_training_log(tmp_path / "missing.csv")
