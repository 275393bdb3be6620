"""Google Colab: the notebooks' set-up cell, their "Open in Colab" badges, and what Colab lacks.

The kit's public repository is written in one place, `[project.urls] Repository` in
pyproject.toml, and the notebooks' version is pyproject's `version` (its git tag: `v` + version).
Colab opens a notebook alone, so the set-up cell (the first code cell, the same in every
notebook) has to carry both: on Colab it clones the kit at that tag into `/content/kit` and calls
`set_up()`, which installs the requirements Colab lacks and works from the clone's `notebooks/`
(where the parameters' relative paths lead). Anywhere else it only makes `helpers` importable.

    python -m helpers.course colab --repo https://github.com/OWNER/REPO [--ref v0.1.0]

records the repository in pyproject.toml and writes the set-up cells, the badges (each
notebook's first markdown cell) and the README's course-map links from it. With no repository
configured, the notebooks carry no badge, and on Colab the set-up cell stops with a message.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path

from helpers.project import ROOT, pyproject

KIT_FOLDER = "/content/kit"  # where the set-up cell clones the kit on Colab
SETUP_CELL_ID = "kit-setup"
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
BADGE = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)\n\n")
#: Requirements Colab does not need: its own notebook interface replaces JupyterLab.
NOT_ON_COLAB = {"jupyterlab"}
#: A GitHub repository address: owner (letters, digits, inner hyphens) and name; `\Z`, not `$`,
#: so a final newline is refused too.
GITHUB = re.compile(r"https://github\.com/(?P<owner>[A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))/"
                    r"(?P<name>(?!\.+(?:\.git)?/?\Z)[A-Za-z0-9._-]{1,100}?)(?:\.git)?/?\Z")
#: A tag or branch name, stricter than `git check-ref-format --branch`: no leading "-" (a git
#: option), no "..", no quote, bracket, space or newline (it goes into code, URLs and markdown).
REF = re.compile(r"(?!.*\.\.)(?!.*//)(?!.*\.lock\Z)[A-Za-z0-9_][A-Za-z0-9._/+-]{0,99}(?<![./])\Z")


def kit_source(root: Path = ROOT) -> tuple[str | None, str]:
    """The kit's public repository (None if pyproject.toml names none) and the notebooks' git
    tag, `v` + pyproject's version."""
    from packaging.version import InvalidVersion, Version

    project = pyproject(root)
    try:
        version = Version(project["version"])
    except (InvalidVersion, TypeError):
        version = None
    if version is None or str(version) != project["version"]:
        raise ValueError(f"pyproject.toml's version {project['version']!r} is not a plain "
                         "version number such as 0.1.0")
    return project.get("urls", {}).get("Repository"), f"v{version}"


def check_ref(ref: str) -> str:
    """`ref` if it is a plain tag or branch name (see `REF`), else a ValueError saying why."""
    if not isinstance(ref, str) or REF.match(ref) is None:
        raise ValueError(f"--ref must be a plain git tag or branch name (letters, digits and "
                         f". _ / + -, not starting with - or ending with . or /, no ..), got "
                         f"{ref!r}")
    return ref


def colab_url(repo: str, ref: str, notebook: str) -> str:
    """The address that opens `notebooks/<notebook>` of GitHub repository `repo` at `ref`."""
    match = GITHUB.match(repo) if isinstance(repo, str) else None
    if match is None:
        raise ValueError(f"Colab opens notebooks from GitHub: give the repository as "
                         f"https://github.com/OWNER/REPO, got {repo!r}")
    check_ref(ref)
    return (f"https://colab.research.google.com/github/{match['owner']}/{match['name']}/blob/"
            f"{ref}/notebooks/{notebook}")


def setup_cell(repo: str | None, ref: str) -> str:
    """The source of the set-up cell for a kit published at `repo` (None: not published)."""
    if repo is None:
        colab = """\
if "google.colab" in sys.modules:  # this copy names no repository to fetch the kit from
    raise RuntimeError("This copy of the notebook does not say where the kit is published: "
                       "open it on Colab from a link made by python -m helpers.course colab")
"""
    else:
        colab_url(repo, ref, "x")  # both checked before they become code
        branch, address = json.dumps(f"--branch={ref}"), json.dumps(repo)  # quoted, not pasted
        noqa = "  # noqa: E501" if len(address) > 78 else ""  # an address too long for a line
        colab = f"""\
if "google.colab" in sys.modules:  # on Colab only: the kit at this notebook's version
    import subprocess

    subprocess.run(["git", "clone", "-q", "--depth=1", {branch},
                    {address},{noqa}
                    "{KIT_FOLDER}"])  # the first time; run again, git says it is there
    sys.path.insert(0, "{KIT_FOLDER}")
    from helpers.colab import set_up

    set_up()  # installs what Colab lacks; works in {KIT_FOLDER}/notebooks
"""
    return f"""\
import sys  # set-up, the same in every notebook

{colab}sys.path.insert(0, "..")  # the kit's `helpers` package is in the folder above notebooks/"""


def _installed_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def set_up(runner: Callable[[Sequence[str]], object] | None = None,
           installed: Callable[[str], str | None] = _installed_version,
           root: Path = ROOT) -> list[list[str]]:
    """On Colab: pip-install the kit's requirements that are missing (Colab's own TensorFlow,
    NumPy, ... are kept, and named if the kit pins another version), then work from the kit's
    `notebooks/`. Returns the commands run. Elsewhere it does nothing."""
    if "google.colab" not in sys.modules:
        return []
    from helpers.preflight import read_requirements

    run = runner or (lambda command: subprocess.run(command, check=True))
    missing, other_version = [], []
    for requirement in read_requirements(root / "requirements.txt"):
        name, spec = requirement.name, str(requirement)
        if name.lower() in NOT_ON_COLAB:
            continue
        version = installed(name)
        if version is None:
            missing.append(spec)
        elif not requirement.specifier.contains(version, prereleases=True):
            other_version.append(f"{name} {version} (the kit is tested with {spec})")
    commands = [[sys.executable, "-m", "pip", "install", "-q", *missing]] if missing else []
    for command in commands:
        run(command)
    if other_version:
        print("Colab's own versions kept: " + "; ".join(other_version))
    os.chdir(root / "notebooks")
    return commands


def _badge(repo: str, ref: str, notebook: str) -> str:
    return f"[![Open In Colab]({BADGE_IMAGE})]({colab_url(repo, ref, notebook)})\n\n"


def _with_repository(text: str, repo: str) -> str:
    """pyproject.toml's text with `[project.urls] Repository` set to `repo` (checked)."""
    line = f"Repository = {json.dumps(repo)}"
    if re.search(r"^Repository = .*$", text, re.M):
        return re.sub(r"^Repository = .*$", lambda _: line, text, count=1, flags=re.M)
    return text.replace("\n[tool.", f"\n[project.urls]\n{line}\n\n[tool.", 1)


def _notebook_text(path: Path, repo: str | None, ref: str) -> str:
    """The notebook at `path` with its badge and set-up cell for `repo` at `ref`."""
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
        title = nb["cells"][0]
        setup = [c for c in nb["cells"] if c.get("id") == SETUP_CELL_ID]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, IndexError, TypeError) as err:
        raise ValueError(f"{path.name} is not a notebook colab can update ({err}); restore it "
                         f"with git checkout -- notebooks/{path.name}") from None
    if len(setup) != 1:
        raise ValueError(f"{path.name} has {len(setup)} set-up cells (id {SETUP_CELL_ID!r}), "
                         f"not one; restore it with git checkout -- notebooks/{path.name}")
    text = BADGE.sub("", "".join(title["source"]), count=1)
    if repo is not None:
        head, _, rest = text.partition("\n\n")
        text = f"{head}\n\n{_badge(repo, ref, path.name)}{rest}"
    title["source"] = text.splitlines(keepends=True)
    setup[0]["source"] = setup_cell(repo, ref).splitlines(keepends=True)
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def _readme_text(text: str, repo: str | None, ref: str) -> str:
    def row(match: re.Match) -> str:
        name = match["name"]
        link = f"[`{name}`]({colab_url(repo, ref, name + '.ipynb')})" if repo else f"`{name}`"
        return f"| {link} |"

    text = re.sub(r"^\| (?:\[)?`(?P<name>\d\d_\w+)`(?:\]\([^)]*\))? \|", row, text, flags=re.M)
    header = "| notebook (opens in Colab) |" if repo else "| notebook |"
    return re.sub(r"^\| notebook(?: \(opens in Colab\))? \|", header, text, flags=re.M)


def write_colab(root: Path = ROOT, repo: str | None = None, ref: str | None = None) -> list[Path]:
    """Write the set-up cells, badges and README links for `repo` at `ref` (defaults: what
    pyproject.toml says; a given `repo` is recorded there). Returns the files written.

    All or nothing: every value is checked and every new text made before the first file is
    written, and each file is replaced whole (a temporary file renamed over it)."""
    configured, tag = kit_source(root)
    if repo is not None:
        colab_url(repo, "x", "x")  # refuse a non-GitHub address before writing anything
    repo, ref = repo or configured, check_ref(tag if ref is None else ref)
    if repo is not None:
        colab_url(repo, ref, "x")
    texts: dict[Path, str] = {}
    if repo != configured:
        pyproject = root / "pyproject.toml"
        texts[pyproject] = _with_repository(pyproject.read_text(encoding="utf-8"), repo)
    for path in sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        texts[path] = _notebook_text(path, repo, ref)
    readme = root / "README.md"
    texts[readme] = _readme_text(readme.read_text(encoding="utf-8"), repo, ref)
    for path, text in texts.items():
        temporary = path.with_name(f".{path.name}.colab-tmp")
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    return list(texts)
