"""Reviewing the cleaner's decisions by eye: keep, set aside or relabel images in a grid.

The cleaner's rules are careful, not perfect: a "near copy" may be a different photo, the
detector may miss a face that is there, a happy face may sit in the sad folder. `review_widget`
shows images (the set-aside ones by default) in an ipywidgets grid, modelled on fastai's
`ImageClassifierCleaner`, where each can be marked keep / set aside / move to the other
class. Unlike fastai's cleaner, marks are kept when you switch the class or page being
viewed. `apply_review` carries the marks out: it moves the copies between `WORK_DIR/clean`
and `WORK_DIR/set_aside` and updates and saves the report. The originals in `DATA_DIR` are
never touched. The widget's button calls `apply_review`; headless runs and tests call it
directly. `show_outcomes` draws a static grid (the crops, the rejects) for any notebook.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

import ipywidgets as widgets
import matplotlib.pyplot as plt
import pandas as pd

from helpers.clean import REPORT_NAME, check_copies
from helpers.copies import copy_usable
from helpers.images import ImageError, open_image
from helpers.names import free_path, readable_name
from helpers.plots import show_images
from helpers.workspace import write_table

#: What a mark asks for: keep the image in its class, set it aside, or move it to the other
#: class (the kit is binary).
MARKS = ("keep", "set_aside", "move")
#: Prefix of a moved copy's name in the other class's clean folder (a name already there gets
#: a tag instead of being replaced: `helpers.names.free_path`).
MOVED_PREFIX = "from_{}__"
_BLANKS = {"reason": "", "detail": "", "output": ""}


def current_mark(row: pd.Series) -> str:
    """The mark that describes where a row's copy is now."""
    if row["outcome"] == "set_aside":
        return "set_aside"
    return "move" if Path(row["output"]).parent.name != readable_name(row["class"]) else "keep"


def _other_class(report: pd.DataFrame, cls: str) -> str:
    classes = sorted(report["class"].unique())
    if len(classes) != 2:
        raise ValueError(f"'move' needs exactly two classes, the report has {classes}")
    return classes[1 - classes.index(cls)]


def _copy_in_work_dir(work_dir: Path, row: pd.Series) -> Path:
    """The row's copy under `work_dir`, refusing anything outside it (originals stay safe)."""
    if row["outcome"] == "ignored" or not isinstance(row["output"], str) or not row["output"]:
        raise ValueError(f"{row['file']} has no copy in {work_dir} to review ({row['outcome']})")
    path = (work_dir / row["output"]).resolve()
    if not path.is_relative_to(work_dir / "clean") and not path.is_relative_to(
        work_dir / "set_aside"
    ):
        raise ValueError(f"{row['file']}: its copy {path} is not under {work_dir}")
    if not path.is_file():
        raise ValueError(f"{row['file']}: its copy {row['output']} is missing from {work_dir} "
                         "(deleted by hand?), so nothing was moved. Run notebook 02_clean_data "
                         "again to rebuild clean/ and the report.")
    return path


def review_keys(report: pd.DataFrame) -> pd.Series:
    """What a mark names: the report's `file`, plus `#face2` etc. for a group photo cropped face
    by face (`CROP_EVERY_FACE`), whose faces share one file."""
    faces = report["face"] if "face" in report else pd.Series("", index=report.index)
    suffix = [f"#face{int(float(f))}" if f == f and str(f).strip() else "" for f in faces]
    return report["file"] + pd.Series(suffix, index=report.index)


def _plan(report: pd.DataFrame, index: pd.Series, marks: Mapping[str, str],
          work_dir: Path) -> list[tuple]:
    """(row, mark, copy, target class) for every mark that changes something; every mark is
    checked first (a ValueError before anything moves)."""
    plan = []
    for file, mark in marks.items():
        if mark not in MARKS:
            raise ValueError(f"{file}: mark must be one of {MARKS}, got {mark!r}")
        i = index[file]
        row = report.loc[i]
        source = _copy_in_work_dir(work_dir, row)
        if mark == current_mark(row):
            continue
        target_class = _other_class(report, row["class"]) if mark == "move" else row["class"]
        if mark != "set_aside" and row["outcome"] == "set_aside":
            try:
                open_image(source)
            except ImageError as err:
                raise ValueError(f"{file} cannot be kept: {err}") from err
        plan.append((i, mark, source, target_class))
    return plan


def apply_review(
    report: pd.DataFrame, marks: Mapping[str, str], work_dir: str | Path
) -> pd.DataFrame:
    """Carry out `marks` ({file: 'keep' | 'set_aside' | 'move'}, files named as by
    `review_keys`) and save the report.

    Moves each marked image's copy between `work_dir/clean/<class>/`, the other class's clean
    folder and `work_dir/set_aside/<class>/`; a set-aside image that is kept or moved is
    converted to PNG if its format needs it. Marks that match where a copy already is change
    nothing, so applying the same marks twice is harmless. Every mark is checked before
    anything moves: an image that cannot be decoded cannot be kept. A copy never replaces
    another: a name already taken in the target folder gets a tag. Returns the updated report
    (`class` stays the folder the original is in; `output` says where the copy is now) and
    writes it to `work_dir/cleaning_report.csv`.
    """
    work_dir = Path(work_dir).resolve()
    report = report.fillna(_BLANKS)  # a report read back from CSV has NaN for empty text
    index = pd.Series(report.index, index=review_keys(report))
    if twice := sorted(set(index.index[index.index.duplicated()])):
        raise ValueError(f"the cleaning report lists {', '.join(twice[:3])} more than once (was "
                         "it edited by hand?), so nothing was moved. Run notebook "
                         "02_clean_data again to write it afresh.")
    unknown = sorted(set(marks) - set(index.index))
    if unknown:
        raise ValueError(f"marks for files not in the report: {unknown}")
    plan = _plan(report, index, marks, work_dir)
    for i, mark, source, target_class in plan:
        row = report.loc[i]
        moved_prefix = readable_name(MOVED_PREFIX.format(row["class"]))
        name = source.name.removeprefix(moved_prefix)
        if mark == "move":
            name = moved_prefix + name
        folder = "set_aside" if mark == "set_aside" else "clean"
        target = work_dir / folder / readable_name(target_class) / name
        was = f"{row['outcome']}{': ' + row['reason'] if row['reason'] else ''}"
        outcome = row["outcome"]
        if mark != "set_aside" and outcome == "set_aside":  # back to training: PNG if need be
            target, conversion = copy_usable(source, target)
            source.unlink()
            outcome = "converted" if conversion else "kept"
        else:
            target = free_path(target, review_keys(report.loc[[i]]).iloc[0])
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(source, target)
        if mark == "set_aside":
            outcome, reason, detail = "set_aside", "set_aside_on_review", "set aside on review"
        elif mark == "move":
            reason, detail = "relabelled", f"moved to {target_class} on review"
        else:
            reason, detail = "kept_on_review", f"kept in {target_class} on review"
        report.loc[i, ["outcome", "reason", "detail", "output"]] = [
            outcome, reason, f"{detail} (was {was})", target.relative_to(work_dir).as_posix(),
        ]
    write_table(report, work_dir / REPORT_NAME)
    check_copies(report, work_dir)
    return report


def _thumbnail(path: Path, size: int) -> tuple[bytes, str]:
    """PNG bytes of a small preview, or (b'', why it cannot be shown)."""
    try:
        img = open_image(path)
    except ImageError as err:
        return b"", err.reason
    img.thumbnail((size, size))
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return buffer.getvalue(), ""


class ReviewWidget(widgets.VBox):
    """The review grid: pick a class and a page, mark images, press "Apply marks".

    State lives on the object, so it can be driven from code: `marks` ({file: mark}, kept
    across class and page changes), `class_picker`, `page`, `choices` ({file: the buttons
    shown for it}), `apply_button` and `report` (updated when the marks are applied).
    """

    def __init__(
        self,
        report: pd.DataFrame,
        work_dir: str | Path,
        rows: pd.DataFrame | None = None,
        page_size: int = 24,
        thumb_size: int = 128,
    ):
        self.report = report.fillna(_BLANKS)
        self.work_dir = Path(work_dir).resolve()
        shown = report[report["outcome"] == "set_aside"] if rows is None else rows
        self.files = review_keys(shown)[shown["outcome"] != "ignored"].tolist()
        self.page_size, self.thumb_size = page_size, thumb_size
        self.marks: dict[str, str] = {}
        self.choices: dict[str, widgets.ToggleButtons] = {}
        self._thumbs: dict[str, tuple[bytes, str]] = {}
        classes = sorted(shown["class"].unique())
        self.class_picker = widgets.ToggleButtons(options=classes, description="class")
        self.page = widgets.BoundedIntText(value=1, min=1, max=1, description="page")
        self.grid = widgets.GridBox(layout=widgets.Layout(
            grid_template_columns=f"repeat(auto-fill, {thumb_size + 40}px)", grid_gap="6px"))
        self.apply_button = widgets.Button(description="Apply marks", button_style="primary")
        self.status = widgets.HTML()
        self.class_picker.observe(self._on_class, names="value")
        self.page.observe(lambda _: self._show(), names="value")
        self.apply_button.on_click(lambda _: self.apply())
        super().__init__([widgets.HBox([self.class_picker, self.page]), self.grid,
                          widgets.HBox([self.apply_button, self.status])])
        self._on_class()

    def _visible(self) -> list[str]:
        rows = self.report.set_index(review_keys(self.report)).loc[self.files]
        return rows.index[rows["class"] == self.class_picker.value].tolist()

    def _on_class(self, _change=None) -> None:
        pages = max(1, -(-len(self._visible()) // self.page_size))
        self.page.max = pages
        if self.page.value == 1:
            self._show()
        else:
            self.page.value = 1  # observed: shows the page

    def _tile(self, row: pd.Series) -> widgets.VBox:
        file = row.name  # its review key
        if file not in self._thumbs:
            self._thumbs[file] = _thumbnail(self.work_dir / row["output"], self.thumb_size)
        data, problem = self._thumbs[file]
        picture = (widgets.Image(value=data, format="png", width=self.thumb_size) if data
                   else widgets.HTML(f"<i>cannot be shown: {problem}</i>"))
        options = [("keep", "keep"), ("set aside", "set_aside")]
        if self.report["class"].nunique() == 2:
            options.append((f"→ {_other_class(self.report, row['class'])}", "move"))
        choice = widgets.ToggleButtons(
            options=options, value=self.marks.get(file, current_mark(row)),
            disabled=bool(problem), style={"button_width": "auto"})
        choice.observe(lambda change: self.marks.__setitem__(file, change["new"]), names="value")
        self.choices[file] = choice
        caption = widgets.HTML(f"<small>{Path(file).name}<br>{row['reason'] or row['outcome']}"
                               "</small>")
        return widgets.VBox([picture, caption, choice])

    def _show(self) -> None:
        start = (self.page.value - 1) * self.page_size
        files = self._visible()[start:start + self.page_size]
        rows = self.report.set_index(review_keys(self.report)).loc[files]
        self.choices = {}
        self.grid.children = [self._tile(row) for _, row in rows.iterrows()]

    def apply(self) -> pd.DataFrame:
        """Apply the marks (see `apply_review`), clear them and show the new state."""
        count = len(self.marks)
        self.report = apply_review(self.report, self.marks, self.work_dir)
        self.marks = {}
        self._thumbs = {}
        self._show()
        self.status.value = f"applied {count} mark(s); report saved to {REPORT_NAME}"
        return self.report


def review_widget(
    report: pd.DataFrame,
    work_dir: str | Path,
    rows: pd.DataFrame | None = None,
    page_size: int = 24,
) -> ReviewWidget:
    """The interactive review grid over `rows` of the report (default: the set-aside images).

    Display it in Jupyter; needs a widget frontend (JupyterLab, VS Code) to be used.
    """
    return ReviewWidget(report, work_dir, rows, page_size)


def show_outcomes(
    report: pd.DataFrame,
    work_dir: str | Path,
    outcomes: Sequence[str] = ("cropped",),
    n: int = 24,
    ncols: int = 8,
) -> plt.Figure | None:
    """A grid of the first `n` copies in `work_dir` whose outcome is in `outcomes` (e.g. the
    face crops, or `("set_aside",)` for the rejects), titled with class and reason; None if
    there are none."""
    rows = report[report["outcome"].isin(outcomes) & (report["output"].fillna("") != "")]
    if rows.empty:
        print(f"No images with outcome {', '.join(outcomes)}.")
        return None
    rows = rows.head(n)
    titles = [f"{r['class']}: {r['reason'] or r['outcome']}" for _, r in rows.iterrows()]
    return show_images([Path(work_dir) / p for p in rows["output"]], titles, ncols)
