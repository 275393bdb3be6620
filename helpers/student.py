"""Student copies of the notebooks, generated from the solutions (the committed notebooks).

The committed notebooks are the single source. In their code cells, exercises are marked in
the style of otter-grader and nbgrader:

* a line ending in `# SOLUTION` becomes `name = ...` if it assigns to `name`, else `...`;
* lines between `# BEGIN SOLUTION` and `# END SOLUTION` become `# YOUR CODE HERE` followed
  by `name = ...` for every name they assign; text after `# BEGIN SOLUTION` is kept as a
  hint (`# BEGIN SOLUTION hint: loop over the thresholds`).

The check cell after each exercise (`helpers.checks`) is left as it is: on `...` it says the
exercise is not done yet and stops "Run All" there. Outputs and execution counts are cleared;
everything else is untouched.

    python -m helpers.course student --out student/
"""

from __future__ import annotations

import ast
import re
import textwrap
from pathlib import Path

import nbformat
from nbconvert.preprocessors import ClearOutputPreprocessor, Preprocessor

SOLUTION_LINE = re.compile(r"^(?P<indent>\s*)(?P<code>.*?)\s*#\s*SOLUTION\s*$")
BEGIN = re.compile(r"^(?P<indent>\s*)#\s*BEGIN SOLUTION\b\s*(?P<hint>.*)$")
END = re.compile(r"^\s*#\s*END SOLUTION\s*$")


def _assigned_names(code: str) -> list[str]:
    """Names assigned at the top level of `code`, in order (targets of `=`, `+=`, `: T =`,
    and the names of functions it defines)."""
    names: list[str] = []
    for node in ast.parse(textwrap.dedent(code)).body:
        if isinstance(node, ast.FunctionDef) and node.name not in names:
            names.append(node.name)
        targets = (node.targets if isinstance(node, ast.Assign) else
                   [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else [])
        for target in targets:
            for name in ast.walk(target):
                if isinstance(name, ast.Name) and name.id not in names:
                    names.append(name.id)
    return names


def _blank_line(indent: str, code: str) -> str:
    """One `# SOLUTION` line without its answer: `name = ...` or `...`."""
    names = _assigned_names(code)
    return f"{indent}{' = '.join(names)} = ...  # YOUR CODE HERE" if names else (
        f"{indent}...  # YOUR CODE HERE")


def strip_solutions(source: str) -> str:
    """The student version of one code cell's source (see the module docstring)."""
    out: list[str] = []
    block: list[str] | None = None
    begin: re.Match | None = None
    for number, line in enumerate(source.splitlines(), start=1):
        if block is not None:
            if END.match(line):
                indent, hint = begin["indent"], begin["hint"].strip()
                out.append(f"{indent}# YOUR CODE HERE" + (f" ({hint})" if hint else ""))
                out += [f"{indent}{name} = ..." for name in _assigned_names("\n".join(block))]
                block = None
            elif BEGIN.match(line):
                raise ValueError(f"line {number}: BEGIN SOLUTION inside another solution block")
            else:
                block.append(line)
        elif (match := BEGIN.match(line)) is not None:
            block, begin = [], match
        elif END.match(line):
            raise ValueError(f"line {number}: END SOLUTION without BEGIN SOLUTION")
        elif (match := SOLUTION_LINE.match(line)) is not None:
            out.append(_blank_line(match["indent"], match["code"]))
        else:
            out.append(line)
    if block is not None:
        raise ValueError("BEGIN SOLUTION without END SOLUTION")
    return "\n".join(out)


def has_solution(source: str) -> bool:
    """Whether a code cell's source holds any exercise marker."""
    return any(SOLUTION_LINE.match(line) or BEGIN.match(line) for line in source.splitlines())


class ClearSolutionsPreprocessor(Preprocessor):
    """nbconvert preprocessor: replace marked solutions in code cells (see `strip_solutions`)."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and has_solution(cell.source):
            cell.source = strip_solutions(cell.source)
        return cell, resources


def make_student_copies(notebooks: list[Path], out_dir: str | Path,
                        force: bool = False) -> list[Path]:
    """Write a student copy of each notebook into `out_dir`; returns the new files' paths.

    `out_dir` should sit next to `helpers/` (like `notebooks/`), because the notebooks find
    the kit's helpers, data and work folder one level up (`..`). A copy already there that
    differs from a fresh one (a learner's answers, outputs) is never overwritten unless `force`:
    FileExistsError names them, and nothing is written.
    """
    out_dir = Path(out_dir)
    copies = {}
    for path in notebooks:
        try:
            nb = nbformat.read(path, as_version=4)
            for preprocessor in (ClearOutputPreprocessor(), ClearSolutionsPreprocessor()):
                nb, _ = preprocessor.preprocess(nb, {})
            nbformat.validate(nb)
        except Exception as err:  # broken JSON, unbalanced solution markers, a bad schema
            raise ValueError(f"{path.name}: no student copy can be made ({err}). Fix the "
                             f"notebook or restore it with git checkout -- notebooks/{path.name}; "
                             "nothing was written.") from None
        copies[out_dir / path.name] = nbformat.writes(nb) + "\n"
    changed = [target.name for target, text in copies.items()
               if target.exists() and target.read_text(encoding="utf-8") != text]
    if changed and not force:
        raise FileExistsError(
            f"{len(changed)} notebook(s) in {out_dir} were changed since they were written "
            f"({', '.join(changed)}): a learner's work is not overwritten. Choose another "
            "--out folder, move those files away, or pass --force to replace them.")
    out_dir.mkdir(parents=True, exist_ok=True)
    for target, text in copies.items():
        target.write_text(text, encoding="utf-8")
    return list(copies)
