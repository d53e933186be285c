"""Build hook: generate the gRPC stubs from the repository's proto/ and copy the presets
data file, both into the source tree before the normal build_py runs.

Nothing generated is committed: the proto files and presets/presets.json at the
repository root are the single source of truth shared with the C++ core. The stubs are
produced by grpc_tools when it is installed, else by the system protoc with Debian's
grpc_python_plugin. Their absolute imports (``import common_pb2``) are rewritten to
package-relative ones so they work inside ``agentfense._proto``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
PROTO_OUT = HERE / "agentfense" / "_proto"
PRESETS_OUT = HERE / "agentfense" / "_data" / "presets.json"
PROTO_FILES = ["common.proto", "sandbox.proto", "codebase.proto"]


def _find(env_var: str, candidates: list[Path]) -> Path | None:
    override = os.environ.get(env_var)
    if override:
        return Path(override)
    return next((path for path in candidates if path.exists()), None)


def _protoc_command(proto_dir: Path) -> list[str]:
    try:
        import grpc_tools  # noqa: F401  (only probing availability)
        from grpc_tools import protoc as _  # noqa: F401

        well_known = Path(grpc_tools.__file__).parent / "_proto"
        return [sys.executable, "-m", "grpc_tools.protoc", f"-I{proto_dir}", f"-I{well_known}",
                f"--python_out={PROTO_OUT}", f"--pyi_out={PROTO_OUT}",
                f"--grpc_python_out={PROTO_OUT}"]
    except ImportError:
        pass
    protoc = shutil.which("protoc")
    plugin = shutil.which("grpc_python_plugin")
    if not protoc or not plugin:
        raise RuntimeError(
            "cannot generate the gRPC stubs: install grpcio-tools, or protoc and "
            "grpc_python_plugin (Debian: protobuf-compiler protobuf-compiler-grpc)")
    return [protoc, f"-I{proto_dir}", "-I/usr/include",
            f"--plugin=protoc-gen-grpc_python={plugin}",
            f"--python_out={PROTO_OUT}", f"--pyi_out={PROTO_OUT}",
            f"--grpc_python_out={PROTO_OUT}"]


def _make_imports_relative(path: Path) -> None:
    modules = "|".join(Path(name).stem + "_pb2" for name in PROTO_FILES)
    text = path.read_text()
    fixed = re.sub(rf"^import ({modules}) as ", r"from . import \1 as ", text, flags=re.M)
    path.write_text(fixed)


def generate_stubs() -> None:
    proto_dir = _find("AGENTFENSE_PROTO_DIR", [HERE.parent.parent / "proto", HERE / "proto"])
    if proto_dir is None:
        if (PROTO_OUT / "sandbox_pb2.py").exists():
            return  # an sdist that already carries the stubs
        raise RuntimeError("proto/ not found: set AGENTFENSE_PROTO_DIR")
    command = _protoc_command(proto_dir) + [str(proto_dir / name) for name in PROTO_FILES]
    subprocess.run(command, check=True)
    for generated in [*PROTO_OUT.glob("*_pb2*.py"), *PROTO_OUT.glob("*_pb2.pyi")]:
        _make_imports_relative(generated)


def copy_presets() -> None:
    source = _find("AGENTFENSE_PRESETS_FILE",
                   [HERE.parent.parent / "presets" / "presets.json"])
    if source is None:
        if PRESETS_OUT.exists():
            return
        raise RuntimeError("presets/presets.json not found: set AGENTFENSE_PRESETS_FILE")
    PRESETS_OUT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, PRESETS_OUT)


class BuildWithGeneratedFiles(build_py):
    """build_py that first regenerates the stubs and presets (also used by editable
    installs, which run build_py too)."""

    def run(self) -> None:
        generate_stubs()
        copy_presets()
        super().run()


if __name__ == "__main__" and sys.argv[1:] == ["generate"]:
    generate_stubs()
    copy_presets()
else:
    setup(cmdclass={"build_py": BuildWithGeneratedFiles})
