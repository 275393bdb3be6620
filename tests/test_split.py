"""The split: stratified, file-level, reproducible from the seed."""

import pytest

from helpers.split import default_fractions, split_dataset, split_summary


@pytest.fixture
def folder(tmp_path, make_image):
    for cls, n, green in (("happy", 60, 0), ("sad", 40, 100)):  # 100 distinct pictures
        for i in range(n):
            make_image(tmp_path / "clean" / cls / f"{i:03d}.png", size=(8, 8),
                       colour=(i, green, 0))
    return tmp_path / "clean"


def test_every_file_in_exactly_one_split_with_class_balance(folder):
    manifest = split_dataset(folder, val_fraction=0.15, test_fraction=0.15, seed=1)
    assert len(manifest) == 100 and manifest["file"].is_unique
    assert set(manifest["split"]) == {"train", "val", "test"}
    table = split_summary(manifest)
    assert table.loc["test", "happy"] == 9 and table.loc["test", "sad"] == 6
    assert table.loc["total", "total"] == 100
    assert dict(zip(manifest["class"], manifest["label"])) == {"happy": 0, "sad": 1}


def test_same_seed_same_manifest_bytes_different_seed_different_split(folder, tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    split_dataset(folder, seed=7).to_csv(a, index=False)
    split_dataset(folder, seed=7).to_csv(b, index=False)
    assert a.read_bytes() == b.read_bytes()
    other = split_dataset(folder, seed=8)
    assert list(other["split"]) != list(split_dataset(folder, seed=7)["split"])


def test_bad_fractions_and_too_few_images_are_explained(folder, tmp_path, make_image):
    with pytest.raises(ValueError, match="between 0 and 1"):
        split_dataset(folder, val_fraction=0.6, test_fraction=0.5)
    make_image(tmp_path / "few" / "happy" / "a.png")
    make_image(tmp_path / "few" / "sad" / "b.png")
    with pytest.raises(ValueError, match="at least 5 images"):
        split_dataset(tmp_path / "few")


def test_default_shares_are_15_percent_or_500_images_once_that_is_less():
    assert default_fractions(2_000) == (0.15, 0.15)  # 300 each
    assert default_fractions(5_000) == (0.10, 0.10)  # 500 each
    assert default_fractions(9_850) == pytest.approx((500 / 9_850,) * 2)
    assert default_fractions(12_000) == default_fractions(100_000) == (0.05, 0.05)  # 5% floor
    assert default_fractions(40) == (0.15, 0.15)  # a small folder: 6 each


def test_default_shares_in_a_split(folder, monkeypatch):
    small = split_dataset(folder, seed=1)["split"].value_counts()
    assert small["test"] == 15 and abs(small["val"] - 15) <= 1  # scikit-learn rounds up
    monkeypatch.setattr("helpers.split.HELD_OUT_IMAGES", 10)  # as if 100 images were many
    large = split_dataset(folder, seed=1)["split"].value_counts()
    assert large["test"] == 10 and abs(large["val"] - 10) <= 1 and large["train"] >= 79
    given = split_dataset(folder, val_fraction=0.2, seed=1)["split"].value_counts()
    assert given["test"] == 10 and abs(given["val"] - 20) <= 1  # a given share is kept


def test_copies_of_one_picture_share_a_split(folder):
    """A duplicate kept on review in notebook 02 cannot end up in training and in test."""
    for i in range(0, 60, 3):
        (folder / "happy" / f"{i:03d}_copy.png").write_bytes(
            (folder / "happy" / f"{i:03d}.png").read_bytes())
    for seed in range(5):
        manifest = split_dataset(folder, seed=seed).set_index("file")
        for i in range(0, 60, 3):
            original, copy = f"happy/{i:03d}.png", f"happy/{i:03d}_copy.png"
            assert manifest.loc[original, "split"] == manifest.loc[copy, "split"]
        assert set(manifest["split"]) == {"train", "val", "test"} and len(manifest) == 120
