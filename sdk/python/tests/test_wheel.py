"""Issue 16 item 3: the SDK as people install it. A wheel built from sdk/python carries
its generated gRPC stubs, the presets and py.typed; installed into a fresh virtualenv
(no system packages) it pulls only grpcio and protobuf from PyPI, runs a user's
program against the real server, and that program passes `mypy --strict` with
nothing but the wheel's own type information.

Needs PyPI (pip installs grpcio, protobuf and, for the check only, mypy); set
AGENTFENSE_SKIP_PYPI_TESTS=1 to skip where there is no network."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path
from typing import Iterator, List

import pytest

from conftest import RunningServer

SDK = Path(__file__).resolve().parents[1]
USER_SCRIPT = Path(__file__).parent / "typed_user_script.py"

pytestmark = pytest.mark.skipif(os.environ.get("AGENTFENSE_SKIP_PYPI_TESTS") == "1",
                                reason="AGENTFENSE_SKIP_PYPI_TESTS=1: no PyPI here")


def run(command: List[str], **kwargs: object) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, **kwargs)
    assert done.returncode == 0, f"{command}:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "--wheel-dir", str(out), str(SDK)])
    (built,) = out.glob("agentfense-*.whl")
    return built


@pytest.fixture(scope="module")
def fresh_python(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A virtualenv without system site-packages holding the wheel and what pip
    installed for it."""
    home = tmp_path_factory.mktemp("venv")
    venv.create(home, with_pip=True, system_site_packages=False)
    python = home / "bin" / "python"
    run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         str(wheel)])
    yield python


def test_the_wheel_carries_stubs_presets_and_types(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for module in ("common", "sandbox", "codebase"):
        assert {f"agentfense/_proto/{module}_pb2.py", f"agentfense/_proto/{module}_pb2.pyi",
                f"agentfense/_proto/{module}_pb2_grpc.py"} <= names
    assert {"agentfense/py.typed", "agentfense/_data/presets.json"} <= names
    metadata = zipfile.ZipFile(wheel).read(
        next(name for name in names if name.endswith(".dist-info/METADATA"))).decode()
    assert "Requires-Python: >=3.9" in metadata
    requirements = sorted(line.split(":", 1)[1].split()[0].split(">")[0].split("<")[0]
                          for line in metadata.splitlines() if line.startswith("Requires-Dist:")
                          and "extra ==" not in line)
    assert requirements == ["grpcio", "protobuf"]


def test_a_fresh_venv_gets_only_grpcio_and_protobuf(fresh_python: Path) -> None:
    listed = run([str(fresh_python), "-m", "pip", "list", "--format=freeze",
                  "--disable-pip-version-check"]).stdout
    installed = {line.split("==")[0].lower() for line in listed.split()}
    # pip and setuptools come with every venv; typing_extensions is grpcio's own.
    assert installed - {"pip", "setuptools", "typing_extensions", "typing-extensions"} == \
        {"agentfense", "grpcio", "protobuf"}
    where = run([str(fresh_python), "-c", "import agentfense; print(agentfense.__file__)"])
    assert "site-packages" in where.stdout and str(SDK) not in where.stdout


def test_a_user_program_runs_from_the_installed_wheel(fresh_python: Path, project: Path,
                                                      agentfense_server: RunningServer) -> None:
    env = dict(os.environ, AGENTFENSE_ENDPOINT=agentfense_server.endpoint)
    done = run([str(fresh_python), str(USER_SCRIPT), str(project)], env=env, cwd=project.parent)
    assert "typed user script: ok" in done.stdout


def test_the_user_program_passes_mypy_strict(fresh_python: Path, tmp_path: Path) -> None:
    run([str(fresh_python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "mypy"])
    # Outside the source tree, so that mypy sees only what the wheel installed.
    script = tmp_path / USER_SCRIPT.name
    script.write_text(USER_SCRIPT.read_text())
    done = run([str(fresh_python), "-m", "mypy", "--strict", "--no-incremental", str(script)],
               cwd=tmp_path)
    assert "Success: no issues found" in done.stdout
    # It does check the SDK's types, not Any: a mistake is caught.
    wrong = tmp_path / "wrong.py"
    wrong.write_text("from agentfense import Sandbox\n"
                     "with Sandbox.from_local('.') as sandbox:\n"
                     "    code: str = sandbox.run('true').exit_code\n")
    checked = subprocess.run([str(fresh_python), "-m", "mypy", "--strict", "--no-incremental",
                              str(wrong)], capture_output=True, text=True, cwd=tmp_path)
    assert checked.returncode == 1 and 'has type "int", variable has type "str"' in checked.stdout
