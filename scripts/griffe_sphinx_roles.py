"""Griffe extension for the documentation site (mkdocs.yml): Sphinx roles become cross-references.

ebana's docstrings name other objects the Sphinx way (:class:`~.layered.LayeredBackend`,
:func:`ebana.load_model`, :meth:`fit`). mkdocstrings links Markdown references
(``[text][path]``), so this extension rewrites each role into one, resolving the
target the way Sphinx does: an absolute path, then the object's own scope and
every scope above it (the class, the module, the packages), then, for a target
that starts with a dot, any unique object whose path ends with it. Names from
Python itself or from other libraries become plain code. A target that resolves
to nothing is still written as a reference, so that ``mkdocs build --strict``
reports it: a docstring naming a moved or renamed object fails the docs test.
"""
import builtins
import re

import griffe

ROLE = re.compile(r":(?:py:)?(class|mod|func|meth|attr|data|exc|obj):`(~?)([^`<>]+)`")
EXTERNAL = {"matplotlib", "numpy", "np", "scipy", "h5py", "PySpice", "dask", "tqdm", "numba", "threadpoolctl",
            "pickle", "io", "os", "pathlib", "signal", "warnings", "importlib", "sys", "concurrent", "multiprocessing"}


def _walk(obj, index):
    """Every object path under obj -> the path of the object it finally is (aliases followed)."""
    for member in obj.members.values():
        if member.is_alias:
            try:
                index[member.path] = member.final_target.path
            except (griffe.AliasResolutionError, griffe.CyclicAliasError):
                continue
        else:
            index[member.path] = member.path
            if member.is_module or member.is_class:
                _walk(member, index)


def fence_doctests(text):
    """Put doctest lines (``>>>`` and their output) in ``pycon`` code fences, so that Markdown
    shows them as code; griffe's own ``Examples:`` sections and fenced blocks are left alone."""
    lines, out = text.split("\n"), []
    in_examples = in_fence = False
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.lstrip()
        indent = line[:len(line) - len(stripped)]
        if stripped and not indent:
            in_examples = stripped.rstrip() == "Examples:"
        if stripped.startswith("```"):
            in_fence = not in_fence
        if stripped.startswith(">>>") and not in_examples and not in_fence:
            j = i
            while j < len(lines) and lines[j].strip() and lines[j].startswith(indent):
                j += 1
            out += [indent + "```pycon", *lines[i:j], indent + "```"]
            i = j
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


def markdown_blocks(text):
    """Two reStructuredText habits, in Markdown: ``text::`` before a literal block shows as
    ``text:``, and a bullet list right under a paragraph line gets the blank line Markdown needs."""
    lines, out = text.split("\n"), []
    in_fence = False
    for line in lines:
        stripped = line.lstrip()
        if stripped.startswith("```"):
            in_fence = not in_fence
        if not in_fence:
            if stripped.startswith(("* ", "- ")) and out and out[-1].strip():
                previous = out[-1]
                indent = len(line) - len(stripped)
                if not previous.lstrip().startswith(("* ", "- ")) and len(previous) - len(previous.lstrip()) == indent:
                    out.append("")
            if line.rstrip().endswith("::") and not line.rstrip().endswith(" ::"):
                line = line.rstrip()[:-1]
        out.append(line)
    return "\n".join(out)


def _is_private(path):
    return any(part.startswith("_") and not part.startswith("__") for part in path.split("."))


class SphinxRoles(griffe.Extension):
    """Rewrites the Sphinx roles of every docstring of a loaded package into autorefs links."""

    def on_package(self, *, pkg, **kwargs):
        index = {pkg.path: pkg.path}
        _walk(pkg, index)
        self._rewrite(pkg, index)

    def _rewrite(self, obj, index):
        if obj.docstring is not None:
            text = ROLE.sub(lambda m: self._link(m, obj, index), obj.docstring.value)
            obj.docstring.value = markdown_blocks(fence_doctests(text))
        for member in obj.members.values():
            if not member.is_alias and (member.is_module or member.is_class or member.is_function
                                        or member.is_attribute):
                self._rewrite(member, index)

    @staticmethod
    def _scopes(obj):
        scope = obj if (obj.is_module or obj.is_class) else obj.parent
        while scope is not None:
            yield scope.path
            scope = scope.parent

    @staticmethod
    def _lookup(name, index):
        """The object a dotted name finally is: aliases followed, also part-way (``ebana.Model.save``)."""
        if name in index:
            return index[name]
        parts = name.split(".")
        for k in range(len(parts) - 1, 0, -1):
            head = ".".join(parts[:k])
            if head in index and index[head] != head:
                return SphinxRoles._lookup(index[head] + "." + ".".join(parts[k:]), index)
        return None

    def _resolve(self, target, obj, index):
        relative = target.startswith(".")
        name = target.lstrip(".")
        if not relative and self._lookup(name, index):
            return self._lookup(name, index)
        for scope in self._scopes(obj):
            found = self._lookup(f"{scope}.{name}", index)
            if found:
                return found
        if relative:
            found = {path for key, path in index.items() if key.endswith("." + name)}
            if len(found) == 1:
                return found.pop()
        return None

    def _link(self, match, obj, index):
        role, short, target = match.groups()
        shown = target.lstrip(".").split(".")[-1] if short else target.lstrip(".")
        path = self._resolve(target, obj, index)
        if path is None:
            head = target.lstrip(".").split(".")[0]
            if head in EXTERNAL or hasattr(builtins, head):
                return f"`{shown}`"
            return f"[`{shown}`][{target}]"  # unresolved: mkdocs --strict reports it
        if _is_private(path):
            return f"`{shown}`"
        return f"[`{shown}`][{path}]"
