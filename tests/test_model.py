"""The model recipes: right shapes and sizes, and the default recipe actually learns."""

import keras
import numpy as np

from helpers import model as recipe

SEED_PARAMS = 3_696_625  # the seed tutorial's 256x256 RGB model


def test_default_model_outputs_one_probability_per_image():
    model = recipe.build_model(recipe.IMAGE_SIZE, recipe.CHANNELS)
    assert isinstance(model, keras.Sequential)
    images = np.random.default_rng(0).random((5, recipe.IMAGE_SIZE, recipe.IMAGE_SIZE,
                                               recipe.CHANNELS), dtype=np.float32)
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
    smallest = recipe.build_model(image_size=16)  # the smallest IMAGE_SIZE the notebooks allow
    assert smallest.output_shape == (None, 1)


def test_the_unregularised_model_is_the_same_without_its_dropout_layer():
    plain, regularised = recipe.build_model(dropout=0), recipe.build_model()
    assert [type(layer) for layer in regularised.layers if type(layer) is not
            keras.layers.Dropout] == [type(layer) for layer in plain.layers]
    assert regularised.layers[-2].rate == 0.3
    assert plain.count_params() == regularised.count_params()


def test_flip_averaging_averages_the_image_and_its_mirror_and_survives_saving(tmp_path):
    keras.utils.set_random_seed(0)
    model = recipe.build_model()
    images = np.random.default_rng(1).random((4, 48, 48, 1), dtype=np.float32)
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
    x = rng.random((64, size, size, 1), dtype=np.float32) * 0.2
    y = np.arange(64) % 2
    x[y == 1, : size // 2] += 0.7  # class 1: bright top half
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
