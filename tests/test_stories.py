"""What the notebooks tell the learner holds on the pytest run's course (QUICK drawn faces), so a
recipe change that breaks a lesson fails here, read from what the executed notebooks print."""

from __future__ import annotations

import re

from conftest import printed


def test_the_unprotected_model_overfits_and_the_kits_model_does_better(course):
    """05: the diagnosis model (400 faces, no augmentation or Dropout) learns its training
    faces by heart: its validation loss is lowest before the last third of its epochs and ends
    higher, far above its training loss; the kit's model ends with a lower validation loss."""
    text = printed(course["out"] / "05_train.ipynb")
    lowest_epoch, epochs, lowest, last, training = re.search(
        r"validation loss lowest after epoch (\d+) of (\d+) \((\d\.\d+)\), (\d\.\d+) at the "
        r"end; training loss (\d\.\d+)", text).groups()
    assert int(lowest_epoch) <= int(epochs) * 2 // 3, text
    assert float(last) > float(lowest) > float(training), text
    kept = float(re.search(r"kept the weights of epoch \d+ of \d+: val_loss (\d\.\d+)",
                           text).group(1))
    assert kept < float(lowest), text


def test_exercise_9_moves_the_threshold_the_way_the_table_says(course):
    """06: the threshold table's recall at 0.5 decides the direction; exercise 9's threshold
    lies on that side of 0.5 and still finds 90% of the sad validation faces."""
    text = printed(course["out"] / "06_evaluate.ipynb")
    recall_at_half = float(re.search(r"^0\.5\s+\S+\s+\S+\s+(\S+)", text, re.MULTILINE).group(1))
    threshold, recall = re.search(r"At (0\.\d\d) recall is (\d+\.\d)%", text).groups()
    assert float(recall) >= 90
    assert (float(threshold) >= 0.5) == (recall_at_half >= 0.9), text
