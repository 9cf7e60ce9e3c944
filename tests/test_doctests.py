"""Every docstring example in the package runs and shows what it says (doctest), in `make test`.

Examples that need Ngspice runs, data files or worker processes are written as
plain code blocks instead; a ``>>> #`` line (an example that runs nothing) is refused.
"""
import doctest
import importlib
import pathlib
import pkgutil

import pytest

import ebana

MODULES = sorted(m.name for m in pkgutil.walk_packages(ebana.__path__, "ebana."))
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an example that writes a file writes it here
    module = importlib.import_module(name)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report = []
    for test in doctest.DocTestFinder(exclude_empty=True).find(module, name, globs=vars(module).copy()):
        runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)


def test_no_pseudo_examples():
    package = pathlib.Path(ebana.__file__).parent
    found = [f"{path.relative_to(package.parent)}:{k}" for path in sorted(package.rglob("*.py"))
             for k, line in enumerate(path.read_text().splitlines(), 1) if line.lstrip().startswith(">>> #")]
    assert not found, f"write these as doctests that run, or as plain code blocks: {found}"
