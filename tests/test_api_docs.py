"""The API reference (docs/api.md) and the public docstrings keep up with the code.

- every name in ``toolkit.__all__`` and in each public module's ``__all__`` has its line in
  docs/api.md, in the section of that module, and every line names something that exists;
- every public function and class has a numpydoc docstring: a Parameters or Attributes section
  unless it takes no arguments, Returns for functions, and an Examples section for functions;
- the docstring examples of every public name run.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil
import re
import types
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import toolkit  # noqa: E402

API_MD = Path(__file__).resolve().parent.parent / "docs" / "api.md"

# "## `toolkit.io`" opens a section; "- `read_faces` *(tk)* — what it does" documents a name.
_SECTION = re.compile(r"^## `(toolkit(?:\.\w+)*)`\s*$")
_ENTRY = re.compile(r"^- `(\w+)`( \*\(tk\)\*)? — (\S.*)$")
# A numpydoc section: a title line underlined by dashes.
_DOC_SECTION = re.compile(r"^([A-Z][A-Za-z ]*)\n-{3,}$", re.M)


def public_modules() -> dict[str, types.ModuleType]:
    """``toolkit`` and each of its public submodules that declares ``__all__``.

    Found with pkgutil and imported with importlib, so a module that nothing imports yet is
    listed too.
    """
    found = {"toolkit": toolkit}
    for info in pkgutil.iter_modules(toolkit.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"toolkit.{info.name}")
        if hasattr(module, "__all__"):
            found[module.__name__] = module
    return found


MODULES = public_modules()


def parse_api_md(text: str) -> dict[str, list[tuple[str, bool, int]]]:
    """Section (module name) -> its entries ``(name, also at top level, line number)``.

    Raises AssertionError when a line under a section breaks the one-line-per-name layout.
    """
    sections: dict[str, list[tuple[str, bool, int]]] = {}
    current = None
    in_code = False
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("```"):
            in_code = not in_code
            continue
        if in_code:
            continue
        header = _SECTION.match(line)
        if header:
            current = header.group(1)
            assert current not in sections, f"docs/api.md:{number}: a second section {current}"
            sections[current] = []
            continue
        if line.startswith("## "):
            raise AssertionError(f"docs/api.md:{number}: a section title must be a module name "
                                 f"in backticks, e.g. ## `toolkit.io`, but it is {line!r}")
        if current is None or not line.startswith("- "):
            continue
        entry = _ENTRY.match(line)
        assert entry, (f"docs/api.md:{number}: an entry must read - `name` — what it does "
                       f"(optionally *(tk)* after the name), but it is {line!r}")
        sections[current].append((entry.group(1), entry.group(2) is not None, number))
    return sections


SECTIONS = parse_api_md(API_MD.read_text(encoding="utf-8"))


def public_objects() -> list[tuple[str, object]]:
    """Every distinct public object: ``(qualified name, object)``, in docs order."""
    seen, out = set(), []
    for module_name, module in MODULES.items():
        for name in module.__all__:
            obj = getattr(module, name)
            if id(obj) in seen or isinstance(obj, types.ModuleType):
                continue
            seen.add(id(obj))
            out.append((f"{module_name}.{name}", obj))
    return out


OBJECTS = public_objects()
CALLABLES = [(q, o) for q, o in OBJECTS if inspect.isclass(o) or inspect.isfunction(o)]


# --- docs/api.md -------------------------------------------------------------------------------


def test_parser_reads_sections_entries_and_top_level_marks():
    text = ("# API\n\n```python\n## `toolkit.fake`\n```\n\n## `toolkit`\n\nintro\n\n"
            "- `plots` — the plotting module.\n\n## `toolkit.io`\n\n### readers\n\n"
            "- `read_faces` *(tk)* — a FaceSet.\n- `Collector` — routes bad records.\n")
    # Lines 11, 17 and 18 hold the entries; the heading inside the code block is not a section.
    assert parse_api_md(text) == {"toolkit": [("plots", False, 11)],
                                  "toolkit.io": [("read_faces", True, 17), ("Collector", False, 18)]}


@pytest.mark.parametrize("text, match", [
    ("## `toolkit`\n- `plots` the plotting module\n", "an entry must read"),
    ("## `toolkit`\n- `plots` — \n", "an entry must read"),
    ("## toolkit.io\n", "a section title must be a module name"),
    ("## `toolkit`\n## `toolkit`\n", "a second section"),
])
def test_parser_refuses_lines_out_of_layout(text, match):
    with pytest.raises(AssertionError, match=match):
        parse_api_md(text)


def test_every_public_module_has_a_section_and_every_section_a_module():
    assert sorted(SECTIONS) == sorted(MODULES), (
        "docs/api.md needs one section per public module with __all__ (and no other): "
        f"missing {sorted(set(MODULES) - set(SECTIONS))}, "
        f"unknown {sorted(set(SECTIONS) - set(MODULES))}")


@pytest.mark.parametrize("module_name", sorted(m for m in MODULES if m != "toolkit"))
def test_a_module_section_lists_exactly_its_all(module_name):
    names = [name for name, _, _ in SECTIONS.get(module_name, [])]
    assert len(names) == len(set(names)), f"{module_name}: a name is listed twice"
    exported = set(MODULES[module_name].__all__)
    assert set(names) == exported, (
        f"docs/api.md, section {module_name}: missing {sorted(exported - set(names))}, "
        f"no longer in __all__ {sorted(set(names) - exported)}")


def test_every_top_level_name_is_documented_and_marked():
    top_section = {name for name, _, _ in SECTIONS["toolkit"]}
    marked = {}
    for module_name, entries in SECTIONS.items():
        for name, at_top, number in entries:
            if at_top:
                assert module_name != "toolkit", f"docs/api.md:{number}: *(tk)* in the top section"
                marked[name] = (module_name, number)
    documented = top_section | set(marked)
    exported = set(toolkit.__all__)
    assert documented == exported, (
        f"toolkit.__all__ names not documented (or not marked *(tk)*): "
        f"{sorted(exported - documented)}; documented but not at the top level: "
        f"{sorted(documented - exported)}")
    # A *(tk)* mark means the very same object, not a namesake.
    for name, (module_name, number) in marked.items():
        assert getattr(toolkit, name) is getattr(MODULES[module_name], name), (
            f"docs/api.md:{number}: tk.{name} is not {module_name}.{name}")
    for name in top_section:
        assert isinstance(getattr(toolkit, name), types.ModuleType), (
            f"the top section lists {name!r}, which is not a module; document it in the section "
            "of the module that defines it, marked *(tk)*")


def test_every_public_name_appears_in_backticks():
    # The issue's own wording, kept as a direct check.
    text = API_MD.read_text(encoding="utf-8")
    for module in MODULES.values():
        for name in module.__all__:
            assert f"`{name}`" in text, f"`{name}` ({module.__name__}) is not in docs/api.md"


# --- docstrings --------------------------------------------------------------------------------


def doc_sections(obj: object) -> set[str]:
    return set(_DOC_SECTION.findall(inspect.getdoc(obj) or ""))


def takes_arguments(obj: object) -> bool:
    try:
        parameters = inspect.signature(obj).parameters
    except ValueError:
        # An exception class that keeps the built-in constructor takes only its message.
        return False
    return any(name not in ("self", "cls") for name in parameters)


def test_doc_sections_reads_numpydoc_titles():
    def documented(x, *, y=1):
        """Add.

        Parameters
        ----------
        x : int

        Returns
        -------
        int
        """

    def bare():
        """Nothing."""

    assert doc_sections(documented) == {"Parameters", "Returns"}
    assert doc_sections(bare) == set()
    assert takes_arguments(documented) and not takes_arguments(bare)


@pytest.mark.parametrize("qualname, obj", CALLABLES, ids=[q for q, _ in CALLABLES])
def test_public_docstrings_follow_numpydoc(qualname, obj):
    doc = inspect.getdoc(obj)
    assert doc and doc.strip(), f"{qualname} has no docstring"
    sections = doc_sections(obj)
    if takes_arguments(obj):
        assert sections & {"Parameters", "Attributes"}, (
            f"{qualname} takes arguments but its docstring has no Parameters or Attributes "
            f"section (it has {sorted(sections)})")
    if inspect.isfunction(obj):
        assert sections & {"Returns", "Yields"}, f"{qualname}: no Returns section"
        assert "Examples" in sections, f"{qualname}: no Examples section"


_RUNNER_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
DOCTESTS = [(q, t) for q, o in CALLABLES
            for t in doctest.DocTestFinder(recurse=False).find(
                o, q, module=inspect.getmodule(o), globs=dict(vars(inspect.getmodule(o))))
            if t.examples]


def test_examples_are_found():
    # Guard the parametrisation below: an empty list would make it test nothing.
    assert len(DOCTESTS) > len(CALLABLES) // 2


@pytest.mark.parametrize("qualname, test", DOCTESTS, ids=[q for q, _ in DOCTESTS])
def test_docstring_examples_run(qualname, test, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)          # an example that writes files writes them here
    plt.close("all")                     # pyplot examples draw on plt.gca()
    runner = doctest.DocTestRunner(optionflags=_RUNNER_FLAGS)
    report: list[str] = []
    try:
        result = runner.run(test, out=report.append)
    finally:
        plt.close("all")
    assert result.failed == 0, "".join(report)
