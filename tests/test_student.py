"""Student copies generated from the solution notebooks: valid, answer-free, one check each.

Running a student copy until it stops at its first exercise is in test_notebooks.py (it needs
the executed course's work folder).
"""

import re

import nbformat
import pytest

from helpers import checks, checks_after_training
from helpers.course import main, notebooks
from helpers.student import has_solution, make_student_copies, strip_solutions

CHECK_CALL = re.compile(r"^(check_\w+)\(", re.M)


def test_a_solution_line_keeps_its_name_and_loses_its_answer():
    source = 'x = 1\nloss = "binary_crossentropy"  # SOLUTION\nprint(loss)'
    assert strip_solutions(source) == "x = 1\nloss = ...  # YOUR CODE HERE\nprint(loss)"
    assert strip_solutions("    a, b = 3, 4  # SOLUTION") == "    a = b = ...  # YOUR CODE HERE"
    assert strip_solutions("model.fit(x)  # SOLUTION") == "...  # YOUR CODE HERE"


def test_a_solution_block_becomes_a_prompt_with_its_hint_and_names():
    source = ("before = 1\n# BEGIN SOLUTION hint: count them\nparts = [1, 2]\n"
              "total = sum(parts)\n# END SOLUTION\nafter = 2")
    assert strip_solutions(source) == ("before = 1\n# YOUR CODE HERE (hint: count them)\n"
                                       "parts = ...\ntotal = ...\nafter = 2")
    assert strip_solutions("# BEGIN SOLUTION\nfor i in []:\n    pass\n# END SOLUTION") == (
        "# YOUR CODE HERE")


@pytest.mark.parametrize("source", ["# BEGIN SOLUTION\nx = 1", "x = 1\n# END SOLUTION",
                                    "# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION"])
def test_unbalanced_markers_are_refused(source):
    with pytest.raises(ValueError, match="SOLUTION"):
        strip_solutions(source)


@pytest.fixture(scope="module")
def copies(tmp_path_factory):
    out = tmp_path_factory.mktemp("kit") / "student"
    assert main(["student", "--out", str(out)]) == 0
    return {path.name: nbformat.read(path, as_version=4) for path in sorted(out.glob("*.ipynb"))}


def code_cells(nb):
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def test_every_notebook_gets_a_valid_copy_without_outputs(copies):
    assert sorted(copies) == [path.name for path in notebooks()]
    for nb in copies.values():
        nbformat.validate(nb)
        assert all(cell.outputs == [] and cell.execution_count is None for cell in code_cells(nb))
        assert nb.metadata.kernelspec.name == "python3"


def test_copies_hold_no_solution_text_and_keep_everything_else(copies):
    exercises = 0
    for path in notebooks():
        source = nbformat.read(path, as_version=4)
        student = copies[path.name]
        assert [c.cell_type for c in source.cells] == [c.cell_type for c in student.cells]
        for original, copy in zip(source.cells, student.cells):
            assert original.get("metadata", {}).get("tags") == copy.get("metadata", {}).get("tags")
            if original.cell_type != "code" or not has_solution(original.source):
                assert copy.source == original.source
                continue
            exercises += 1
            assert "YOUR CODE HERE" in copy.source and not has_solution(copy.source)
            answer_lines = [line.split("#")[0].strip() for line in original.source.splitlines()
                            if line.strip() and line not in copy.source.splitlines()]
            for line in filter(None, answer_lines):
                assert line not in copy.source, f"{path.name}: answer left in {copy.source!r}"
    assert exercises >= 8


def answer_texts(source: str) -> list[str]:
    """The answers marked in one solution cell, whitespace removed: each `# SOLUTION` line's
    code and, when it calls something, its right-hand side without module prefixes; each line
    of a BEGIN/END block that says more than a bracket."""
    texts, inside = [], False
    for line in source.splitlines():
        if re.match(r"\s*#\s*BEGIN SOLUTION", line):
            inside = True
        elif re.match(r"\s*#\s*END SOLUTION", line):
            inside = False
        elif inside or re.search(r"#\s*SOLUTION\s*$", line):
            code = re.sub(r"\s+", "", line.split("#")[0])
            if len(code) >= 12:
                texts.append(code)
            if not inside and "=" in code and "(" in code.split("=", 1)[1]:
                texts.append(re.sub(r"^(\w+\.)+", "", code.split("=", 1)[1]))
    return texts


def test_no_answer_appears_anywhere_in_a_student_copy(copies):
    """Not in its own cell, not in a later cell's code or comment, not in the prose."""
    found = 0
    for path in notebooks():
        source = nbformat.read(path, as_version=4)
        answers = [text for cell in source.cells if cell.cell_type == "code"
                   and has_solution(cell.source) for text in answer_texts(cell.source)]
        found += len(answers)
        whole_copy = "".join(re.sub(r"\s+", "", cell.source) for cell in copies[path.name].cells)
        leaked = [text for text in answers if text in whole_copy]
        assert not leaked, f"{path.name}: answers left in the student copy: {leaked}"
    assert found >= 12


#: A number in a check's ✓ line: 0.974, 1,153, 144 (a threshold it names is given, not found).
ANSWER_NUMBER = re.compile(r"(?<![\d.])(\d{1,3}(?:,\d{3})+|\d+\.\d{2,}|\d{3,})(?!\d|\.\d|,\d)")


def _shown(cell) -> str:
    return "\n".join(o.get("text") or o.get("data", {}).get("text/plain", "")
                     for o in cell.get("outputs", ()))


def test_no_answer_is_shown_before_its_exercise_in_the_course_run(course):
    """What a learner's copy shows above an exercise is what the course run's notebooks show
    there: the numbers of an exercise's answer (as its check prints them) are not all on screen
    before the answer's cell. All, not any: one of them may match by chance (a recall of 73/75
    on test and on validation)."""
    checked = 0
    for path in sorted(course["out"].glob("0[1-8]_*.ipynb")):
        cells = code_cells(nbformat.read(path, as_version=4))
        for i, cell in enumerate(cells):
            done = re.search(r"✓ Exercise (\d+) \([^)]*\): (.*)", _shown(cell))
            if not done:
                continue
            checked += 1
            numbers = ANSWER_NUMBER.findall(re.sub(r"threshold \d\.\d+", "", done[2]))
            above = "\n".join(_shown(c) for c in cells[:i - 1])  # before the answer's cell
            shown = [n for n in numbers if re.search(rf"(?<![\d.]){re.escape(n)}(?!\d)", above)]
            assert not numbers or shown != numbers, f"{path.name}, exercise {done[1]}: {shown}"
    assert checked >= 12


def test_each_exercise_is_followed_by_its_checker_in_course_order():
    checked = []
    for path in notebooks():
        cells = code_cells(nbformat.read(path, as_version=4))
        for i, cell in enumerate(cells):
            if has_solution(cell.source):
                calls = CHECK_CALL.findall(cells[i + 1].source)
                assert len(calls) == 1, f"{path.name}: no check cell after {cell.source[:60]!r}"
                given = re.search(r"^check_prediction\((\d+),", cells[i + 1].source, re.M)
                checked.append(int(given[1]) if given else int(re.search(
                    r"Exercise (\d+)", _checker(calls[0]).__doc__)[1]))
    numbers = checked
    assert numbers == sorted(checks.EXERCISES) and 8 <= len(numbers) <= 14  # + 09 and 10
    headings = [int(n) for path in notebooks() for cell in nbformat.read(path, 4).cells
                if cell.cell_type == "markdown"
                for n in re.findall(r"^### Exercise (\d+) · ", cell.source, re.M)]
    assert headings == numbers


def test_student_copies_need_helpers_one_folder_up(tmp_path, capsys):
    assert main(["student", "--out", str(tmp_path / "student")]) == 0
    assert "copy them next to helpers/" in capsys.readouterr().out
    (tmp_path / "kit" / "helpers").mkdir(parents=True)  # the layout of a clone
    assert main(["student", "--out", str(tmp_path / "kit" / "student")]) == 0
    assert "copy them" not in capsys.readouterr().out


def test_a_learners_changed_copy_is_never_overwritten_without_force(tmp_path, capsys):
    out = tmp_path / "student"
    assert main(["student", "--out", str(out)]) == 0
    assert main(["student", "--out", str(out)]) == 0  # unchanged copies: written again
    answered = out / "04_build_model.ipynb"
    answered.write_text(answered.read_text().replace("output_layer = ...",
                                                     "output_layer = my_answer"))
    mine = answered.read_text()
    capsys.readouterr()
    assert main(["student", "--out", str(out)]) == 1
    assert "04_build_model.ipynb" in capsys.readouterr().err and answered.read_text() == mine
    with pytest.raises(FileExistsError, match="--force"):
        make_student_copies(notebooks(), out)
    make_student_copies(notebooks(), out, force=True)
    assert "my_answer" not in answered.read_text()


@pytest.mark.parametrize("damage", ["not json", "unbalanced markers"])
def test_a_broken_notebook_is_named_and_nothing_is_written(tmp_path, damage):
    import shutil

    source = tmp_path / "notebooks"
    source.mkdir()
    copied = [shutil.copy2(path, source / path.name) for path in notebooks()[:4]]
    broken = source / "03_explore_and_split.ipynb"
    if damage == "not json":
        broken.write_text("{ not json")
    else:
        nb = nbformat.read(broken, as_version=4)
        cell = next(c for c in nb.cells if "# BEGIN SOLUTION" in c.source)
        cell.source = cell.source.replace("# END SOLUTION", "")
        nbformat.write(nb, broken)
    with pytest.raises(ValueError, match="03_explore_and_split.ipynb: no student copy"):
        make_student_copies([type(broken)(p) for p in copied], tmp_path / "student")
    assert not (tmp_path / "student").exists()


def _checker(name: str):
    """The exercise checker called `name`, from either module of checks."""
    return getattr(checks, name, None) or getattr(checks_after_training, name)
