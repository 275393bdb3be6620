"""Benchmark the photo path on real web photos: find the face, crop it as in training, predict.

A model trained through the course on real faces is shown photos as a learner finds them (a
portrait, a group, a silhouette, a quote card, a landscape) through `helpers.predict`, the
same code as notebook 07 and the command line. A photo is *answered* when the kit finds a
face in it; a photo with several faces is scored by its largest face. Printed: coverage
(share answered), accuracy on the answered photos, accuracy over all photos (an unanswered
photo counts as wrong), the always-the-larger-class baseline, and the count of each outcome.

    python -m helpers.course run -p SOURCE_DIR FER_FOLDER         # train through the course
    python benchmarks/photos_benchmark.py --model work/models/served
    python benchmarks/photos_benchmark.py --model M --data DIR    # DIR holds happy/ and sad/

Without `--data` it unpacks ../shared/data/web-photos-happy-sad.tar.gz (research data, never
committed); when that is absent it says so and exits 0.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from research_data import WEB_PHOTOS_ARCHIVE, absent, find_data  # noqa: E402

from helpers.images import class_folders, iter_files  # noqa: E402
from helpers.predict import classify_images, load_classifier  # noqa: E402

ARCHIVE = WEB_PHOTOS_ARCHIVE


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", type=Path, default=REPO / "work" / "models" / "served",
                   help="a model folder saved by the course trained on real faces (or the "
                        ".keras/.tflite file in it)")
    p.add_argument("--data", type=Path, help="folder with one subfolder of photos per class")
    p.add_argument("--margin", type=float, help="experiment: crop with this margin instead of "
                                                "the one saved with the model")
    return p.parse_args(argv)


def score(results: list[dict], truth: list[str]) -> dict:
    """Outcome counts and the headline numbers (see the module docstring)."""
    outcomes = Counter()
    for result, label in zip(results, truth):
        if "label" in result:
            outcomes["correct" if result["label"] == label else "wrong"] += 1
        elif result.get("error", "").startswith("no face found"):
            outcomes["no_face"] += 1
        else:
            outcomes["unreadable"] += 1
    answered = outcomes["correct"] + outcomes["wrong"]
    n = len(results)
    return {
        "photos": n,
        "coverage": answered / n,
        "accuracy_answered": outcomes["correct"] / answered if answered else float("nan"),
        "accuracy_all": outcomes["correct"] / n,
        "majority_baseline": Counter(truth).most_common(1)[0][1] / n,
        "outcomes": dict(outcomes),
        "several_faces": sum(len(r.get("faces", [])) > 1 for r in results),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="happy_sad_photos_") as tmp:
        photos = find_data(args.data, Path(tmp), ARCHIVE)
        if photos is None:
            print(absent(args.data, ARCHIVE, "photos"))
            return 0
        classifier = load_classifier(args.model)
        if classifier.face_step.mode == "none":
            print(f"Note: {args.model} was trained without a face step (drawn faces?): it judges "
                  "whole photos. Train it on real faces through the course first.")
        if args.margin is not None:
            rules = replace(classifier.face_step.rules, margin=args.margin)
            classifier.face_step = replace(classifier.face_step, rules=rules)
        paths, truth = [], []
        for folder in class_folders(photos):
            for path in iter_files(folder):
                paths.append(path)
                truth.append(folder.name)
        start = time.perf_counter()
        results = classify_images(classifier, paths)
        seconds = time.perf_counter() - start
    s = score(results, truth)
    print(f"Model: {args.model} ({classifier.face_step.mode}: "
          f"margin {classifier.face_step.rules.margin})")
    print(f"Photos: {s['photos']} in {photos} ({dict(Counter(truth))}); "
          f"{seconds / s['photos'] * 1000:.0f} ms per photo, detection included")
    print()
    print("| photos | answered (coverage) | accuracy on answered | accuracy over all "
          "| always the larger class |")
    print("|---|---|---|---|---|")
    answered = s["outcomes"].get("correct", 0) + s["outcomes"].get("wrong", 0)
    print(f"| {s['photos']} | {answered} ({s['coverage']:.1%}) | {s['accuracy_answered']:.3f} "
          f"| {s['accuracy_all']:.3f} | {s['majority_baseline']:.3f} |")
    print()
    print("Outcomes:", ", ".join(f"{k} {v}" for k, v in sorted(s["outcomes"].items())),
          f"(photos with several faces: {s['several_faces']}, scored by the largest)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
