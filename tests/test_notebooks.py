"""The whole course, executed headless in QUICK mode, checked through what the notebooks record.

The pytest run's one course execution (conftest's `course`: `python -m helpers.course run
--quick`, with 2% of the drawn faces' labels flipped for notebook 10 to find) feeds every test
here. The same-seed check (everything again from nothing, the same files) is in
tests/test_catch_up.py, which gets there through the catch-up command.
"""

import json
import re
import subprocess
import sys

import keras
import nbformat
import numpy as np
import pandas as pd
import pytest

from conftest import (
    FLIP_LABELS,
    FROM_05_ON,
    REPO,
    as_options,
    copy_course,
    digests,
    printed,
    run_in_terminal,
)
from helpers.clean import USABLE_OUTCOMES
from helpers.model import build_model
from helpers.workspace import Work

NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_runner_prints_time_table_and_metrics(course):
    for nb in NOTEBOOKS:
        assert re.search(rf"^{nb.stem}\s+\d+\.\d$", course["stdout"], re.MULTILINE)
    assert "Test metrics" in course["stdout"] and "accuracy" in course["stdout"]
    assert re.search(r"^  accuracy   0\.\d{3}  \(95% interval 0\.\d{3}[–-]0\.\d{3}\)$",
                     course["stdout"], re.MULTILINE)
    assert re.search(r"Always\s+answering", course["stdout"])


def test_the_console_shows_progress_not_kernel_logs(course):
    """One line per notebook, the table and the metrics; TensorFlow's C++ start-up lines,
    papermill's warnings and the kernels' own messages go to course.log."""
    console = course["stdout"] + course["stderr"]
    for nb in NOTEBOOKS:
        assert re.search(rf"^\[\d+/\d+\] {nb.stem}\s+done in \d+\.\d s$", console, re.MULTILINE)
    # not a terminal: a plain line per epoch of notebook 05, with the pace and the time left
    assert re.search(r"^\[5/\d+\] 05_train: cell \d+/\d+ · .+ · epoch \d+/\d+ · \d+\.\d "
                     r"s/epoch · at most .+ left$", console, re.MULTILINE), console[-3000:]
    for noise in ("cuda", "I0000", "E0000", "oneDNN", "cpu_feature_guard", "IPKernelApp",
                  "ERROR", "Traceback", "Passed unknown parameter", "Executing:"):
        assert noise not in console, noise
    log = (course["out"] / "course.log").read_text()
    assert "course.log" in console and "cuda" in log.lower()


def test_executed_notebooks_are_saved_without_errors(course):
    for nb in NOTEBOOKS:
        executed = nbformat.read(course["out"] / nb.name, as_version=4)
        outputs = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs]
        assert outputs and not [o for o in outputs if o.output_type == "error"]


def test_the_solutions_pass_every_exercise_check(course):
    from helpers.checks import EXERCISES

    text = "".join(o.get("text", "") for nb in NOTEBOOKS
                   for c in nbformat.read(course["out"] / nb.name, as_version=4).cells
                   if c.cell_type == "code" for o in c.outputs)
    assert re.findall(r"^✓ Exercise (\d+) ", text, re.M) == [str(n) for n in EXERCISES]


def test_a_student_copy_stops_at_its_first_exercise_with_the_checkers_message(course, tmp_path):
    import shutil

    import papermill as pm

    from helpers.student import make_student_copies

    work = shutil.copytree(course["work"], tmp_path / "work", ignore=shutil.ignore_patterns(
        "executed", "*.keras", "*.tflite", "logs"))
    [student] = make_student_copies([REPO / "notebooks" / "03_explore_and_split.ipynb"],
                                    tmp_path / "student")
    with pytest.raises(pm.PapermillExecutionError) as info:
        pm.execute_notebook(student, tmp_path / "executed.ipynb", cwd=REPO / "notebooks",
                            parameters={"QUICK": True, "WORK_DIR": str(work),
                                        "DATA_DIR": str(course["data"])},
                            progress_bar=False, kernel_name="python3")
    assert info.value.ename == "NotYet"
    assert info.value.evalue.startswith("Exercise 1 (the score of always guessing): not done yet")
    executed = nbformat.read(tmp_path / "executed.ipynb", as_version=4)
    [error] = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs
               if o.output_type == "error"]
    assert error.traceback == [f"✗ {info.value.evalue}"]  # the message alone, no traceback


def test_metrics_json_is_complete_and_above_chance(course):
    metrics = json.loads(Work(course["work"]).path("metrics").read_text())
    for key in ("accuracy", "precision", "recall", "f1", "roc_auc", "n_test", "class_names"):
        assert key in metrics
    assert metrics["class_names"] == ["happy", "sad"]
    assert metrics["n_test"] > 50
    assert metrics["accuracy"] > 0.65 and metrics["roc_auc"] > 0.7
    for key in ("accuracy", "precision", "recall", "f1", "f1_macro", "roc_auc"):
        low, high = metrics["intervals"][key]
        assert low <= metrics[key] <= high
    assert metrics["baseline_class"] in ("happy", "sad") and 0.5 <= metrics["baseline_accuracy"]


def test_serving_choices_are_made_on_validation_and_saved_with_the_model(course):
    """Mirror averaging and the threshold are chosen on the validation split (notebook 06), and
    the served model carries the threshold to every prediction path."""
    from helpers.predict import load_classifier

    served = json.loads(Work(course["work"]).path("metrics").read_text())["served"]
    assert served["chosen_on"] == "validation"
    on_val = served["validation"]
    assert set(on_val) == {"as trained", "mirror-averaged"}
    lower_loss = min(on_val, key=lambda name: on_val[name]["val_loss"])
    assert served["model"] == lower_loss and served["mirror_averaged"] == (
        lower_loss == "mirror-averaged")
    classifier = load_classifier(Work(course["work"]).path("served_model"))
    assert classifier.threshold == served["threshold"]
    tflite = load_classifier(Work(course["work"]).path("float32_model"))
    assert tflite.threshold == served["threshold"]
    assert (classifier.model.name == "happy_sad_cnn_flip_averaged") == served["mirror_averaged"]


def test_each_model_is_a_folder_with_its_own_card(course):
    """Trained, served and both exports: one folder each, written once, with a card that says
    what the model needs and how it did; no file is shared between models."""
    from helpers.bundle import load_card

    work = Work(course["work"])
    metrics = work.json("metrics")
    names = ("trained_model", "served_model", "float32_model", "int8_model")
    files, cards = zip(*(load_card(work.require(name)) for name in names))
    assert [f.relative_to(work.root).as_posix() for f in files] == [
        "models/trained/model.keras", "models/served/model.keras",
        "models/float32/model.tflite", "models/int8/model.tflite"]
    trained, served, *exported = cards
    assert trained["made_by"] == "05_train" and "test" not in trained
    counts = work.table("split").groupby(["split", "class"]).size()
    assert trained["trained_on"]["pictures"]["train"] == dict(counts["train"])
    assert served["threshold"] == metrics["served"]["threshold"]
    assert served["test"]["accuracy"] == metrics["accuracy"]
    assert served["test"]["intervals"]["accuracy"] == metrics["intervals"]["accuracy"]
    for card in exported:
        assert card["converted_from"] == "models/served/model.keras"
        assert card["threshold"] == served["threshold"] and card["classes"] == served["classes"]
    assert not list(work.root.rglob("classes.json")) + list(work.root.rglob("preprocessing.json"))


def test_exported_models_agree_with_keras(course):
    comparison = pd.read_csv(course["work"] / "export_comparison.csv", index_col="model")
    assert list(comparison.index) == ["keras", "tflite float32", "tflite int8"]
    assert comparison.loc["tflite float32", "max_prob_diff"] < 1e-3
    assert comparison.loc["tflite int8", "agreement_with_keras"] >= 0.9
    assert (comparison["p50_ms"] > 0).all()
    assert (Work(course["work"]).path("served_model") / "card.json").is_file()


def test_the_cnn_beats_handcrafted_features_on_the_same_test_split(course):
    rows = {r["model"]: r for r in json.loads(Work(course["work"]).path("compare").read_text())}
    cnn = next(r for name, r in rows.items() if name.startswith("CNN, served"))
    hog = rows["HOG + logistic regression"]
    metrics = json.loads(Work(course["work"]).path("metrics").read_text())
    assert cnn["accuracy"] == metrics["accuracy"]  # notebook 06's test split, served model
    assert 0.5 <= hog["accuracy"] < cnn["accuracy"] and hog["parameters"] == 901
    assert (course["work"] / "figures" / "hog_pictures.png").is_file()


def test_the_trained_model_looks_at_the_mouth(course):
    """Where the generator drew the mouth (the only part that carries the label), Grad-CAM and
    occlusion put clearly more than a uniform map would, for correctly classified test faces."""
    from helpers.explain import (
        box_area_share,
        grad_cam,
        mouth_boxes,
        occlusion_map,
        share_inside,
    )
    from helpers.images import load_image
    from helpers.predict import load_classifier

    work = Work(course["work"])
    model = load_classifier(work.require("trained_model")).model
    threshold = load_classifier(work.require("served_model")).threshold
    test = work.table("split").query("split == 'test'")
    images = np.stack([load_image(work.path("clean") / f, 48) for f in test["file"]])
    right = (model.predict(images, verbose=0).ravel() >= threshold) == test["label"].to_numpy()
    boxes = [b for b, ok in zip(mouth_boxes(work, list(test["file"]), 48), right) if ok]
    assert len(boxes) > 60

    def ratios(heatmaps):
        return np.array([share_inside(h, b) / box_area_share(b, 48, 48)
                         for h, b in zip(heatmaps, boxes)])

    cams = ratios(grad_cam(model, images[right], threshold))
    occlusions = ratios([occlusion_map(lambda x: model(x, training=False).numpy().ravel(),
                                       image, threshold=threshold) for image in images[right]])
    assert np.median(cams) > 1.25 and np.mean(cams > 1) > 0.55
    assert np.median(occlusions) > 2 and np.mean(occlusions > 1) > 0.75
    explained = work.json("explain")  # what notebook 08 reports
    assert explained["median_mouth_ratio"] == pytest.approx(np.median(cams), rel=1e-3)


def test_cleaner_sets_aside_exactly_the_planted_files(course):
    planted = json.loads(Work(course["work"]).path("collect").read_text())["planted"]
    report = pd.read_csv(Work(course["work"]).path("cleaning_report"))
    set_aside = report[report["outcome"] == "set_aside"]
    assert dict(zip(set_aside["file"], set_aside["reason"])) == {
        p["path"]: p["reason"] for p in planted
    }
    assert (report["outcome"] != "ignored").all()
    data = course["data"]
    files_in = sum(1 for p in data.rglob("*") if p.is_file() and p.parent != data)
    assert len(report) == files_in


def test_the_largest_training_losses_find_most_planted_flips(course):
    """Notebook 10 ranks only training pictures, and most of the planted flips that landed in
    training are among its top losses (chance would put about 3% of them there)."""
    work = Work(course["work"])
    flipped = work.json("collect")["flipped"]
    assert len(flipped) == 2 * round(FLIP_LABELS * 500)
    planted = {f["path"] for f in flipped}
    manifest, report = work.table("split"), work.table("cleaning_report")
    train = set(manifest.loc[manifest["split"] == "train", "file"])
    in_training = {f for f, out in zip(report["file"], report["output"])
                   if f in planted and out.removeprefix("clean/") in train}
    top = work.table("top_losses")
    assert len(top) == 24 and set(top["file"]) <= train
    assert top["loss"].astype(float).is_monotonic_decreasing and (top["decision"] == "keep").all()
    found = set(top["key"]) & planted
    assert top["planted_flip"].eq("True").sum() == len(found)
    summary = work.json("relabel")
    assert (summary["planted_found"], summary["planted_in_training"]) == (
        len(found), len(in_training))
    assert summary["validation"] is None  # nothing was marked: nothing retrained
    assert len(in_training) >= 8 and len(found) > len(in_training) / 2, (found, in_training)


def test_accepted_suggestions_relabel_training_pictures_and_compare_on_validation(
        course, tmp_path):
    """Notebook 10 again with ACCEPT_SUGGESTIONS (fine-tuning one epoch): copies move and the
    report and split follow, validation and test rows and the originals stay as they were, and
    both fine-tuned models are measured on validation."""
    import shutil

    work_dir = shutil.copytree(course["work"], tmp_path / "work", ignore=shutil.ignore_patterns(
        "executed", "logs", "backup", "models", "checkpoint.keras"))
    shutil.copytree(course["work"] / "models" / "trained", work_dir / "models" / "trained")
    work, originals = Work(work_dir), digests(course["data"])
    before = work.table("split")
    command = [sys.executable, "-m", "helpers.course", "run", "--quick", "--only", "10",
               "-p", "ACCEPT_SUGGESTIONS", "True", "-p", "FINE_TUNE_EPOCHS", "1",
               "-p", "WORK_DIR", str(work_dir),
               "-p", "DATA_DIR", str(course["data"]), "--out", str(tmp_path / "out")]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert digests(course["data"]) == originals
    after, report, top = work.table("split"), work.table("cleaning_report"), work.table(
        "top_losses")
    held_out = before[before["split"] != "train"].reset_index(drop=True)
    assert after[after["split"] != "train"].reset_index(drop=True).equals(held_out)
    moved = top[top["decision"] == "move"]
    set_aside = top[top["decision"] == "set_aside"]
    assert len(moved) and len(moved) + len(set_aside) + (top["decision"] == "keep").sum() == 24
    assert len(after) == len(before) - len(set_aside)
    by_key = report.set_index("file")
    assert (by_key.loc[moved["key"], "reason"] == "relabelled").all()
    assert (by_key.loc[set_aside["key"], "reason"] == "set_aside_on_review").all()
    drawn_as = {f["path"]: f["drawn_as"] for f in work.json("collect")["flipped"]}
    for key in set(moved["key"]) & set(drawn_as):  # a planted flip moved back where it belongs
        new_file = by_key.loc[key, "output"].removeprefix("clean/")
        assert new_file.startswith(drawn_as[key] + "/")
        assert after.set_index("file").loc[new_file, "class"] == drawn_as[key]
    validation = work.json("relabel")["validation"]
    assert list(validation) == ["notebook 05", "fine-tuned, labels as they were",
                                "fine-tuned, reviewed labels"]
    assert all(0.5 < row["accuracy"] <= 1 and row["loss"] > 0 for row in validation.values())


def test_split_manifest_is_file_level_and_complete(course):
    manifest = pd.read_csv(Work(course["work"]).path("split"))
    report = pd.read_csv(Work(course["work"]).path("cleaning_report"))
    usable = report[report["outcome"].isin(USABLE_OUTCOMES)]
    assert manifest["file"].is_unique and len(manifest) == len(usable)
    assert set(manifest["split"]) == {"train", "val", "test"}
    assert all((course["work"] / "clean" / f).is_file() for f in manifest["file"])


def test_notebook_03s_split_in_view_is_the_helpers_split(course):
    """Notebook 03 splits with train_test_split in view; helpers.split.split_dataset (used by
    scripts and tests) must give the same manifest for the same folder and seed."""
    from helpers.split import split_dataset

    written = pd.read_csv(Work(course["work"]).path("split"))
    assert written.equals(split_dataset(course["work"] / "clean", seed=42))


def test_notebook_model_is_the_recipe_in_helpers(course):
    """Notebook 04 writes its keras.Sequential in a cell; helpers.model.build_model (for the
    scripts) must be the same model, layer for layer."""
    trained = keras.models.load_model(Work(course["work"]).path("untrained_model"))
    assert trained.input_shape == (None, 48, 48, 3)  # raw RGB pixels in
    reference = build_model(48, 1)
    def layer_configs(model):
        return [{k: v for k, v in layer.get_config().items() if k != "name"}
                for layer in model.layers]
    assert layer_configs(trained) == layer_configs(reference)
    assert trained.count_params() == reference.count_params()


def test_notebook_05_compiles_as_helpers_compile_model(course):
    """The benchmark and the pre-flight probe train with helpers.model.compile_model: the
    same optimizer, schedule, loss and metrics as notebook 05's own compile."""
    from helpers.model import compile_model

    def without_names(value):
        if isinstance(value, dict):
            return {k: without_names(v) for k, v in value.items() if k != "name"}
        return [without_names(v) for v in value] if isinstance(value, list) else value

    steps, epochs = map(int, re.search(r"(\d+) weight updates per epoch: (\d+) epochs",
                                       printed(course["out"] / "05_train.ipynb")).groups())
    [model_file] = Work(course["work"]).path("trained_model").glob("*.keras")
    trained = keras.models.load_model(model_file).get_compile_config()
    reference = compile_model(build_model(48, 1), steps_per_epoch=steps,
                              epochs=epochs).get_compile_config()
    assert without_names(trained) == without_names(reference)


def test_notebook_05_trains_under_a_two_cpu_mirrored_strategy(course, tmp_path):
    """Notebook 05 again on a copy of the course's files, with STRATEGY "mirrored" on 2 logical
    CPU devices (one model copy each, every batch split in two), briefly, in a pseudo-terminal:
    the console keeps one live line with the epoch, its pace and the time left; the plan names
    both devices, every epoch is logged with a finite loss, and the model is saved with its
    card. That a model learns under this strategy is tests/test_strategy.py's check; a full
    training under it here cost 10 minutes of the suite (it reached the one-device accuracy)."""
    run = copy_course(course, tmp_path, leave_out=FROM_05_ON)
    status, console = run_in_terminal([
        sys.executable, "-m", "helpers.course", "run", "--quick", "--only", "05",
        "-p", "STRATEGY", "mirrored", "-p", "STRATEGY_CPUS", "2", "-p", "EPOCHS", "2",
        "-p", "MIN_STEPS", "0", "-p", "DIAGNOSE_EPOCHS", "0",
        *as_options(run["params"]),
        "--out", str(tmp_path / "out")], timeout=900)
    assert status == 0, console[-3000:]
    assert re.search(r"\r\[1/1\] 05_train: cell \d+/\d+ · .+ · epoch 2/2 · \d+\.\d s/epoch · ",
                     console), console[-3000:]
    assert "I0000" not in console and "Traceback" not in console
    text = printed(tmp_path / "out" / "05_train.ipynb")
    assert "updates; 2 device(s)" in text
    assert re.search(r"Using MirroredStrategy with devices \('[^']*CPU:0', '[^']*CPU:1'\)", text)
    log = pd.read_csv(Work(run["work"]).path("training_log"))
    assert log["epoch"].tolist() == [0, 1] and np.isfinite(log[["loss", "val_loss"]]).all().all()
    card = json.loads((Work(run["work"]).path("trained_model") / "card.json").read_text())
    assert 0 <= card["validation"]["val_accuracy"] <= 1


def test_your_own_face_runs_headless_on_a_stand_in_and_fine_tuning_beats_scratch(course):
    """Notebook 09 without pictures of your own: newly drawn faces, labelled as a stand-in and
    none of the course's pictures; fine-tuned from the drawn-face model, against scratch."""
    from helpers.images import sha256_of
    from helpers.own_face import STAND_IN, STAND_IN_NOTE

    work = Work(course["work"])
    record = work.json("own_face")
    assert record["stand_in"] and not record["real_face_start"]
    assert record["start"].endswith("models/served/model.keras")
    results = record["results"]
    tuned, scratch = (results[name] for name in ("... and the last block, low rate",
                                                 "same network, from scratch"))
    assert tuned["pictures"] == scratch["pictures"] == 12
    assert tuned["accuracy"] >= scratch["accuracy"], results
    stand_in = work.root / STAND_IN
    assert STAND_IN_NOTE in (stand_in / "README.txt").read_text()
    course_pictures = {sha256_of(p) for p in work.path("clean").rglob("*") if p.is_file()}
    assert not course_pictures & {sha256_of(p) for p in stand_in.glob("*/*")}
    assert not (work.root / "own_faces").exists()  # nothing is captured headless
    text = printed(course["out"] / "09_your_own_face.ipynb")
    assert "No real-face model at" in text and f"uses a {STAND_IN_NOTE}" in text
