"""The Dockerfile, environment.yml and pyproject.toml describe one environment."""
import re
import tomllib

from conftest import ROOT


def _name(req):
    return re.split(r"[<>=!~\[ ;]", req.strip(), maxsplit=1)[0].lower()


def pyproject_dependencies():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    project = data["project"]
    return {_name(r) for r in project["dependencies"]}, {_name(r) for r in project["optional-dependencies"]["test"]}


def conda_dependencies():
    deps = []
    for line in (ROOT / "environment.yml").read_text().splitlines():
        m = re.match(r"\s*-\s+([A-Za-z0-9_.\-]+)", line)
        if m and "channels" not in line:
            deps.append(m.group(1).lower())
    return set(deps)


def test_environment_yml_matches_pyproject():
    runtime, test = pyproject_dependencies()
    conda = conda_dependencies()
    expected = (runtime | test) - {"pyspice"} | {"pyspice"}
    missing = {d for d in expected if d not in conda}
    assert not missing, f"environment.yml lacks {sorted(missing)}"
    # the simulator itself: the CLI and the shared library
    assert {"ngspice", "ngspice-lib"} <= conda
    extra = conda - expected - {"python", "pip", "ngspice", "ngspice-lib", "conda-forge"}
    assert not extra, f"environment.yml has packages pyproject.toml lacks: {sorted(extra)}"


def test_dockerfile_uses_the_setup_script():
    docker = (ROOT / "docker-setup" / "Dockerfile").read_text()
    assert "scripts/setup.sh" in docker, "the Dockerfile must run the same set-up script as make"
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    # the script installs ngspice and the package with its test extras from pyproject.toml
    for pkg in ("ngspice", "libngspice0", "libngspice0-dev"):
        assert pkg in setup
    assert '-e ".[test]"' in setup
    assert "test_circuit/xor.py" in docker


def test_makefile_and_ci_agree_with_readme():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert "make demo" in readme and "make test" in readme
    assert "make test" in ci
    assert "scripts/setup.sh" in makefile


def test_dask_is_in_the_test_extras_so_the_cluster_test_runs():
    _, test = pyproject_dependencies()
    assert "dask" in test
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert any("distributed" in r for r in data["project"]["optional-dependencies"]["test"])
    assert "dask" in conda_dependencies()  # conda-forge's dask includes distributed


def test_container_make_test_uses_the_image_python_not_a_copied_venv():
    import subprocess
    ignore = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignore, "a host .venv copied into the image breaks `make test` there"
    dry = subprocess.run(["make", "-n", "test", "EBANA_SYSTEM_PYTHON=1"], cwd=ROOT, capture_output=True, text=True)
    assert dry.returncode == 0 and "python3 -m pytest" in dry.stdout and ".venv/bin/python" not in dry.stdout
    docker = (ROOT / "docker-setup" / "Dockerfile").read_text()
    assert "EBANA_SYSTEM_PYTHON=1" in docker and 'CMD ["bash"]' in docker
