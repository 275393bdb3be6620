"""The STRATEGY parameter: helpers.model.distribution_strategy and its parameter checks.

TensorFlow splits the CPU into logical devices once per process, before it starts, so each
case runs in a fresh Python. That a model learns under a 2-CPU MirroredStrategy is checked
here on a small Dense model; tests/test_notebooks.py runs notebook 05 under it for 2 epochs (the
path, the console and the saved model, not the CNN's accuracy: a full run cost 10 minutes).
"""

import subprocess
import sys
import textwrap

import pytest

from conftest import REPO
from helpers.workspace import check_parameters


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


def test_mirrored_on_a_cpu_trains_one_model_on_two_logical_devices():
    """SLOW (trains on two logical CPUs).

    Two replicas on /CPU:0 and /CPU:1; a model built and compiled in its scope trains with
    fit (each batch split in two) and its variables are mirrored on both devices."""
    done = _python("""
        import numpy as np, keras, tensorflow as tf
        from helpers.model import distribution_strategy, set_seed
        strategy = distribution_strategy("mirrored", 2)
        set_seed(0)
        with strategy.scope():
            model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, "sigmoid")])
            model.compile(keras.optimizers.Adam(0.1), "binary_crossentropy", metrics=["accuracy"])
        x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
        y = (x[:, 0] > 0).astype("float32")
        history = model.fit(x, y, batch_size=32, epochs=15, verbose=0)
        kernel = model.layers[0].kernel
        print(strategy.num_replicas_in_sync, type(strategy).__name__,
              strategy.extended.worker_devices)
        print(type(kernel.value).__name__)
        print(history.history["accuracy"][-1] >= 0.9,
              history.history["loss"][-1] < history.history["loss"][0] / 2)
        print(distribution_strategy("mirrored", 2).num_replicas_in_sync)  # asked again: fine
    """)
    assert done.returncode == 0, done.stderr[-3000:]
    first, variables, learned, again = done.stdout.strip().splitlines()
    assert first.startswith("2 MirroredStrategy") and "CPU:0" in first and "CPU:1" in first
    assert "Mirrored" in variables
    assert learned == "True True" and again == "2"


def test_mirrored_after_tensorflow_started_asks_for_a_restart():
    done = _python("""
        import tensorflow as tf
        from helpers.model import distribution_strategy
        tf.constant(1.0)  # TensorFlow starts with one CPU device
        print(distribution_strategy("mirrored", 1).num_replicas_in_sync)  # that is fine
        distribution_strategy("mirrored", 2)
    """)
    assert done.returncode == 1 and done.stdout.strip() == "1"
    assert ("TensorFlow already started with 1 CPU device(s), so it cannot split the CPU into 2 "
            "now. Restart the kernel") in done.stderr
    assert "or set STRATEGY_CPUS to 1." in done.stderr


def test_no_strategy_is_tensorflows_default_one_device():
    done = _python("""
        import tensorflow as tf
        from helpers.model import distribution_strategy
        strategy = distribution_strategy(None)
        print(strategy is tf.distribute.get_strategy(), strategy.num_replicas_in_sync,
              len(tf.config.list_logical_devices("CPU")))
    """)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["True", "1", "1"]


@pytest.mark.parametrize(("params", "message"), [
    ({"STRATEGY": "multi_worker"}, "STRATEGY must be None (one device) or 'mirrored', got "
                                   "'multi_worker'"),
    ({"STRATEGY": True}, "STRATEGY must be None (one device) or 'mirrored', got True"),
    ({"STRATEGY_CPUS": 0}, "STRATEGY_CPUS must be a whole number ≥ 1 and ≤ 64, got 0"),
    ({"STRATEGY_CPUS": 2.5}, "STRATEGY_CPUS must be a whole number ≥ 1 and ≤ 64, got 2.5"),
])
def test_bad_strategy_parameters_are_refused_with_the_allowed_values(params, message):
    with pytest.raises(ValueError) as info:
        check_parameters(**params)
    assert str(info.value) == message


def test_good_strategy_parameters_pass():
    check_parameters(STRATEGY=None, STRATEGY_CPUS=1)
    check_parameters(STRATEGY="mirrored", STRATEGY_CPUS=4)
