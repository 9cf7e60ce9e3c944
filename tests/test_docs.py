"""The documentation site builds with --strict: a broken link, cross-reference or nav entry fails CI.

The site (mkdocs.yml) holds the guides in docs/ and an API reference rendered from the
docstrings; scripts/griffe_sphinx_roles.py turns their :class:`...` roles into checked links.
"""
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT

import ebana


def test_docs_build_strict(tmp_path):
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                         cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-4000:]
    assert (tmp_path / "site" / "index.html").exists()
    assert (tmp_path / "site" / "api" / "model.html").exists()


def test_every_package_has_an_api_page():
    pages = "\n".join(p.read_text() for p in (ROOT / "docs" / "api").glob("*.md"))
    shown = set(re.findall(r"^::: (ebana\.\w+)\s*$", pages, re.M))
    package = ROOT / "ebana"
    public = {f"ebana.{p.parent.name}" for p in package.glob("*/__init__.py") if not p.parent.name.startswith("_")}
    public |= {f"ebana.{p.stem}" for p in package.glob("*.py") if not p.stem.startswith("_")}
    assert public <= shown, f"no API page for {sorted(public - shown)}"
    assert set(ebana.__all__) <= set(re.findall(r"\[`(\w+)`\]", (ROOT / "docs" / "api" / "index.md").read_text()))


def test_the_site_builds_offline():
    import yaml  # comes with mkdocs
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    assert config["theme"]["font"] is False, "Material must not fetch Google Fonts"
    plugins = {p if isinstance(p, str) else next(iter(p)) for p in config["plugins"]}
    assert plugins <= {"search", "autorefs", "mkdocstrings"}, "no plugin that fetches (social cards, ...)"
    assert config["site_dir"] == "site" and "site/" in (ROOT / ".gitignore").read_text().split()


def test_readme_is_an_entry_point():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    assert "make demo" in readme and "make test" in readme and "make docs" in readme


@pytest.mark.parametrize("page", ["README.md", "docs/getting-started.md"])
def test_first_example_trains_xor_in_ngspice(page, tmp_path, monkeypatch):
    """The first code block of the README and of the getting-started guide runs as written."""
    block = re.findall(r"```python\n(.*?)```", (ROOT / page).read_text(), re.S)[0]
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(block, f"{page} block 1", "exec"), namespace)
    model, X, Y = namespace["model"], namespace["X"], namespace["Y"]
    assert type(model.backend.inner).__name__ == "NgspiceBackend"
    np.testing.assert_array_equal(np.sign(model.predict({"x": X})["out"]), np.sign(Y))  # 4/4
    assert (tmp_path / "xor.cir").exists()


def test_sphinx_roles_become_checked_links():
    """A role to an existing object links to its real path; one to an old path stays a reference
    that mkdocs --strict reports (see test_docs_build_strict)."""
    import griffe
    sys.path.insert(0, str(ROOT / "scripts"))
    from griffe_sphinx_roles import ROLE, SphinxRoles, _walk

    package = griffe.load("ebana", search_paths=[str(ROOT)], extensions=griffe.load_extensions(SphinxRoles))
    auto = package["backends.auto"]
    assert "[`LayeredBackend`][ebana.backends.layered.backend.LayeredBackend]" in auto.docstring.value
    index = {package.path: package.path}
    _walk(package, index)
    link = SphinxRoles()._link
    old = ROLE.sub(lambda m: link(m, auto, index), ":class:`~.native_layered.LayeredBackend`")
    assert old == "[`LayeredBackend`][.native_layered.LayeredBackend]"
    assert ROLE.sub(lambda m: link(m, auto, index), ":class:`DeprecationWarning`") == "`DeprecationWarning`"
