"""The face step in cleaning: decided once for the whole folder (`choose_face_step`: none,
crop each photo to its face, or keep a folder of face crops whole), then each picture's verdict
turned into its report outcome (`apply_faces`)."""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path

import pandas as pd
from PIL import Image

from helpers.faces import FOLDER_SAMPLE, FaceResult, FaceRules, FaceStep, folder_framing
from helpers.images import ImageError, class_folders, iter_files, open_image


def apply_faces(report: pd.DataFrame, found: dict[str, FaceResult],
                 rules: FaceRules) -> pd.DataFrame:
    """Turn the face step's verdict on each still-usable image (`found`, by file) into an
    outcome; a group photo cropped face by face (`rules.every_face`) gets one row per face."""
    out: list[dict] = []
    for row in report.to_dict("records"):
        if row["outcome"] not in ("kept", "converted"):
            out.append(row)
            continue
        result = found[row["file"]]
        conversion = row["detail"]
        if result.verdict == "crop":
            for n, box in enumerate(result.crops, start=1):
                out.append({**row, "outcome": "cropped", "detail": result.detail,
                            "face": str(n) if len(result.crops) > 1 else "",
                            "face_box": ",".join(map(str, box))})
            continue
        if result.verdict == "face_crop" or rules.keep_unmatched:
            detail = result.detail
            if result.verdict != "face_crop":  # kept uncropped; the reason says why
                row["reason"] = result.verdict
                detail += ", kept uncropped"
            row["detail"] = f"{conversion}; {detail}" if conversion else detail
        else:
            row.update(outcome="set_aside", reason=result.verdict, detail=result.detail)
        out.append(row)
    return pd.DataFrame(out, columns=report.columns)


def image_sizes(data_dir: Path) -> dict[Path, tuple[int, int]]:
    """The pixel size of every readable image under `data_dir`'s class folders (headers only)."""
    sizes = {}
    for folder in class_folders(data_dir):
        for path in iter_files(folder):
            try:
                with warnings.catch_warnings(), Image.open(path) as img:
                    warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                    sizes[path] = img.size
            except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
                continue
    return sizes


def choose_face_step(
    data_dir: str | Path, crop_faces: bool | None, rules: FaceRules | None = None,
    generated: bool = False,
) -> FaceStep:
    """Decide once, for the whole data folder, what the face step does (see `FaceStep`).

    `crop_faces`: False, no face step; True, every picture goes through the per-picture rule
    (`find_faces`); None (automatic), drawn faces (`generated`) get none, and an imported
    folder that already is face crops (FER, passport photos: nearly all one small, square-ish
    size, with faces filling the frame) is kept whole, otherwise treated as photos.
    """
    rules = rules or FaceRules()
    if crop_faces is False or (crop_faces is None and generated):
        why = "drawn faces: the detector misses many cartoons" if generated else "CROP_FACES=False"
        return FaceStep("none", rules, f"no face step ({why}): pictures are used whole")
    if crop_faces:
        return FaceStep("photos", rules, "CROP_FACES=True: every picture is cropped to its face")
    sizes = image_sizes(Path(data_dir))
    paths = sorted(sizes)
    common = pd.Series([sizes[p] for p in paths]).mode()
    same = [p for p in paths if len(common) and sizes[p] == common.iloc[0]]
    step = max(1, len(same) // FOLDER_SAMPLE)
    sample = []
    for path in same[::step][:FOLDER_SAMPLE]:
        try:
            sample.append(open_image(path))
        except ImageError:
            continue
    crops, margin, detail = folder_framing(list(sizes.values()), sample, rules)
    if crops:
        return FaceStep("face_crops", replace(rules, margin=margin), detail)
    return FaceStep("photos", rules, f"{detail}; each picture is cropped to its face")
