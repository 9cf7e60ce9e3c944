"""Issue 19: no function in the package runs over 60 lines; a longer one is split into
pieces with one job each."""
import ast
import pathlib

import ebana

PACKAGE = pathlib.Path(ebana.__file__).parent
LIMIT = 60


def test_no_function_over_sixty_lines():
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > LIMIT:
                    long.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, long
