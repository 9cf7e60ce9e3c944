"""The package layout keeps its promises: old import paths work, no import circles,
no private names across packages, no file name repeating its folder's name."""
import ast
import importlib
import pathlib
import warnings

import pytest

import ebana
from ebana._moved import MOVED

PACKAGE = pathlib.Path(ebana.__file__).parent


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        is_pkg = parts[-1] == "__init__"
        yield ".".join(parts[:-1] if is_pkg else parts), is_pkg, path


MODULES = {name: (is_pkg, path) for name, is_pkg, path in _modules()}


def _target(node, name, is_pkg):
    """Absolute module an ImportFrom names (relative imports resolved)."""
    if node.level == 0:
        return node.module
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    base = base[: len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _module_level_imports(name):
    """(target module, imported names) of every import at module level, with the names that are modules."""
    is_pkg, path = MODULES[name]
    out = []
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom):
            target = _target(node, name, is_pkg)
            if target and target.startswith("ebana"):
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    out.append((sub if sub in MODULES else target, alias.name))
        elif isinstance(node, ast.Import):
            out += [(a.name, None) for a in node.names if a.name.startswith("ebana")]
    return out


@pytest.mark.parametrize("old", sorted(MOVED))
def test_old_import_paths_give_the_moved_module(old):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        module = importlib.import_module(old)
    assert module is importlib.import_module(MOVED[old])


def test_old_public_names_still_import():
    from ebana.backends.native import DenseBackend  # noqa: F401
    from ebana.backends.native_layered import LayeredBackend  # noqa: F401
    from ebana.backends.ngspice import NgspiceBackend  # noqa: F401
    from ebana.networks import clamped_mlp, local_network, rectified_mlp  # noqa: F401
    from ebana.saving import get_weights, load_model, save_model, set_weights  # noqa: F401


def test_no_import_circles_at_module_level():
    graph = {name: {t for t, _ in _module_level_imports(name) if t in MODULES and t != name} for name in MODULES}
    state, stack = {}, []

    def visit(node):  # iterative enough for this package's depth; reports the first cycle found
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycle = stack[stack.index(nxt):] + [nxt]
                pytest.fail("import circle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name)


def test_no_private_names_imported_across_packages():
    offenders = []
    for name, (is_pkg, _) in MODULES.items():
        package = name if is_pkg else name.rsplit(".", 1)[0]
        for target, imported in _module_level_imports(name):
            target_package = target if MODULES.get(target, (False,))[0] else target.rsplit(".", 1)[0]
            private = (imported or "").startswith("_") or any(p.startswith("_") for p in target.split(".")[1:])
            if private and target_package != package and target != "ebana._moved":
                offenders.append(f"{name} imports {imported} from {target}")
    assert not offenders, offenders


def test_no_file_name_repeats_its_folder_name():
    offenders = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                 if p.stem != "__init__" and p.stem.startswith(p.parent.name)]
    assert not offenders, offenders


def test_model_attributes_set_by_training_are_declared():
    from ebana.networks import clamped_mlp
    model = clamped_mlp(2, 3, 1, backend="native")
    assert model.compiled is None and model.loss_fn is None and model.history is None
