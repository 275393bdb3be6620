"""Prediction with a `.tflite` model runs on LiteRT alone: neither TensorFlow nor Keras is
imported, by the command line or by `load_classifier` and `classify_images`."""

import json
import subprocess
import sys

import pytest

from conftest import PHOTO, REPO, save_brightness_model
from helpers.faces import FaceStep

#: Run in a fresh interpreter: TensorFlow and Keras cannot be imported there (an import of
#: either, even one that would catch the ImportError, is recorded), then the kit predicts.
_NO_TF = """
import json, sys

class Refuse:
    tried = []

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "keras", "tf_keras"):
            self.tried.append(name)
            raise ImportError(f"{name} is not allowed in this test")

sys.meta_path.insert(0, Refuse())
import helpers.predict as p
"""
_REPORT = """
print(json.dumps({"tried": Refuse.tried, "tensorflow": "tensorflow" in sys.modules,
                  "keras": "keras" in sys.modules}), file=sys.stderr)
"""


@pytest.fixture(scope="module")
def tflite_model(tmp_path_factory):
    """The brightness stand-in exported to `.tflite` in a bundle of its own, as notebook 07 saves
    it (48 px, face step `photos`: the face detector runs too)."""
    from helpers.bundle import new_bundle, save_card
    from helpers.export import export_tflite
    from helpers.predict import load_classifier

    folder = tmp_path_factory.mktemp("litert")
    trained = load_classifier(save_brightness_model(folder / "trained" / "model.keras", 48,
                                                    FaceStep("photos")))
    tflite = export_tflite(trained.model, new_bundle(folder / "float32") / "model.tflite")
    save_card(tflite.parent, trained.card | {"made_by": "07_predict"})
    photo = folder / "photo.jpg"
    PHOTO.save(photo, quality=95)
    return tflite, photo


def _run(code: str) -> tuple[subprocess.CompletedProcess, dict]:
    done = subprocess.run([sys.executable, "-c", _NO_TF + code + _REPORT], capture_output=True,
                          text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    return done, json.loads(done.stderr.strip().splitlines()[-1])


def test_classify_with_tflite_imports_neither_tensorflow_nor_keras(tflite_model):
    tflite, photo = tflite_model
    done, imported = _run(f"""
c = p.load_classifier({str(tflite)!r})
[result] = p.classify_images(c, [{str(photo)!r}])
print(json.dumps(result))
""")
    assert imported == {"tried": [], "tensorflow": False, "keras": False}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["label"] in ("happy", "sad") and len(result["faces"]) == 1


def test_command_line_with_tflite_imports_neither_tensorflow_nor_keras(tflite_model):
    tflite, photo = tflite_model
    done, imported = _run(f"""
rc = p.main([{str(tflite)!r}, {str(photo)!r}])
assert rc == 0, rc
""")
    assert imported == {"tried": [], "tensorflow": False, "keras": False}
    assert "label" in json.loads(done.stdout.strip().splitlines()[-1])


def test_the_litert_runner_is_still_importable_from_export():
    from helpers import export, litert

    assert export.TFLiteClassifier is litert.TFLiteClassifier


def test_without_litert_the_command_line_says_to_install_it_not_that_the_model_is_damaged(
        tflite_model):
    tflite, photo = tflite_model
    code = f"""
import json, sys
sys.modules["ai_edge_litert"] = sys.modules["ai_edge_litert.interpreter"] = None  # not installed
import helpers.predict as p
sys.exit(p.main([{str(tflite)!r}, {str(photo)!r}]))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert done.returncode == 2, done.stderr
    error = json.loads(done.stdout.strip().splitlines()[-1])["error"]
    assert "LiteRT is missing" in error and "pip install -r requirements.txt" in error
    assert "not a model the kit can read" not in error
