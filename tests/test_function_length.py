"""Issue 19: in the solver, circuit, device and crossbar packages no function runs over 60
lines; a longer one is split into pieces with one job each (training has its own owner)."""
import ast
import pathlib

import pytest

import ebana

PACKAGE = pathlib.Path(ebana.__file__).parent
LIMIT = 60


@pytest.mark.parametrize("folder", ["backends", "circuit", "devices", "crossbar"])
def test_no_function_over_sixty_lines(folder):
    long = []
    for path in sorted((PACKAGE / folder).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > LIMIT:
                    long.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, long
