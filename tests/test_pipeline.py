"""The tf.data pipeline: right shapes, labels kept with their images, augmentation on train only."""

import numpy as np
import pytest

from helpers.pipeline import build_augmentation, make_dataset


@pytest.fixture
def files(tmp_path, make_image):
    paths = [make_image(tmp_path / f"{i}.png", colour=(25 * i, 0, 0)) for i in range(10)]
    return paths, [i % 2 for i in range(10)]


def test_batches_have_the_model_input_shape(files):
    paths, labels = files
    ds = make_dataset(paths, labels, image_size=24, batch_size=4)
    batches = list(ds)
    assert [int(x.shape[0]) for x, _ in batches] == [4, 4, 2]
    assert batches[0][0].shape[1:] == (24, 24, 3) and batches[0][0].dtype == "float32"
    pixels = np.concatenate([x.numpy() for x, _ in batches])  # raw RGB: the model scales them
    assert pixels.max() > 200 and np.array_equal(pixels, np.round(pixels))
    assert np.array_equal(np.concatenate([y.numpy() for _, y in batches]), labels)


def test_training_order_is_shuffled_by_seed_and_images_keep_their_labels(files):
    paths, labels = files
    def order(seed):
        ds = make_dataset(paths, labels, image_size=8, batch_size=10, training=True, seed=seed)
        x, y = next(iter(ds))
        return x.numpy()[:, 0, 0, 0], y.numpy()
    red_a, y_a = order(1)
    red_b, _ = order(1)
    red_c, _ = order(2)
    assert np.allclose(red_a, red_b) and not np.allclose(red_a, red_c)
    brightness_rank = np.argsort(np.argsort(red_a))  # image i has red 25*i: rank == index
    assert np.array_equal(y_a, brightness_rank % 2)


def test_augmentation_changes_training_images_only(files):
    paths, labels = files
    aug = build_augmentation(seed=3)
    plain = next(iter(make_dataset(paths, labels, 32, batch_size=10)))[0].numpy()
    again = next(iter(make_dataset(paths, labels, 32, batch_size=10, augmentation=aug)))[0]
    assert np.array_equal(plain, again.numpy())  # not training: augmentation is ignored
    trained = next(iter(make_dataset(paths, labels, 32, batch_size=10, training=True,
                                     augmentation=aug)))[0].numpy()
    assert trained.shape == plain.shape
    assert 0 <= trained.min() and trained.max() <= 255  # contrast changes keep the pixel range
    assert not np.allclose(np.sort(trained.ravel()), np.sort(plain.ravel()))  # not just reordered


def test_mismatched_or_empty_inputs_are_explained():
    with pytest.raises(ValueError, match="2 paths but 1 labels"):
        make_dataset(["a", "b"], [0])
    with pytest.raises(ValueError, match="empty"):
        make_dataset([], [])


def test_a_set_larger_than_the_cache_budget_streams_the_same_batches(files):
    """Over the budget nothing is cached (pictures are decoded from disk every epoch), and the
    epochs are the very same batches in the same order, so training does not change."""
    paths, labels = files

    def epochs(budget):
        ds = make_dataset(paths, labels, image_size=8, batch_size=4, training=True, seed=5,
                          cache_budget=budget)
        return ds, [np.concatenate([x.numpy().ravel() for x, _ in ds]) for _ in range(2)]

    cached_ds, cached = epochs(10**9)
    streamed_ds, streamed = epochs(8 * 8 * 3 * 9)  # room for 9 of the 10 pictures (uint8 RGB)
    assert not np.allclose(cached[0], cached[1])  # reshuffled each epoch
    assert all(np.array_equal(a, b) for a, b in zip(cached, streamed))
    for path in paths:  # now only the cached set can give a third epoch
        path.unlink()
    assert len(list(cached_ds)) == 3
    with pytest.raises(Exception, match="(?i)file|no such"):
        list(streamed_ds)
