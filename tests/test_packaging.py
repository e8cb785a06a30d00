"""Packaging: the conda environments pin what the pip path installs, every import is declared, the metadata builds.

The pip path is pyproject.toml (what ganbench needs) + requirements/constraints.txt and cpu-constraints.txt (the
versions the tests run with, installed by scripts/setup.sh); environment.yml / environment-gpu.yml are the conda path.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

import ganbench
from conftest import REPO

CONDA_TO_PIP = {"pytorch": "torch"}  # conda-forge's name for torch; every other package has its PyPI name
NOT_PIP_PACKAGES = {"python", "pip"}
# the first version of snakemake-executor-plugin-slurm with the `status_command` setting (profile key
# `slurm-status-command`): found by reading the released sources (1.9.2 and 2.0.0 have no such field, 2.1.0 has)
SLURM_STATUS_COMMAND_SINCE = Version("2.1.0")


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def requirements(group: str | None = None) -> dict[str, Requirement]:
    project = pyproject()["project"]
    lines = project["dependencies"] if group is None else project["optional-dependencies"][group]
    reqs = [Requirement(line) for line in lines]
    return {canonicalize_name(r.name): r for r in reqs}


def constraint_pins(path: Path) -> dict[str, Version]:
    """name → pinned version of a pip constraints file, following its `-c other.txt` lines."""
    pins: dict[str, Version] = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-c "):
            pins.update(constraint_pins(path.parent / line[3:].strip()))
            continue
        req = Requirement(line)
        (spec,) = req.specifier
        assert spec.operator == "==", f"{path.name}: {line!r} is not an exact pin"
        pins[canonicalize_name(req.name)] = Version(spec.version)
    return pins


@dataclasses.dataclass(frozen=True)
class CondaPin:
    version: Version
    build: str | None
    via_pip: bool


def conda_pins(path: Path) -> tuple[dict[str, CondaPin], list[str]]:
    """(PyPI name → pin) of a conda environment file, and its pip lines that are not packages (`-e .`)."""
    env = yaml.safe_load(path.read_text())
    pins: dict[str, CondaPin] = {}
    other: list[str] = []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):  # the pip: section
            for line in dep["pip"]:
                if line.startswith("-"):
                    other.append(line)
                    continue
                req = Requirement(line)
                (spec,) = req.specifier
                assert spec.operator == "==", f"{path.name}: pip line {line!r} is not an exact pin"
                pins[canonicalize_name(req.name)] = CondaPin(Version(spec.version), None, True)
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\s*(==|=)\s*([^=\s]+)(?:=(\S+))?)?", dep)
        assert m, f"{path.name}: cannot read the dependency {dep!r}"
        name, op, version, build = m.groups()
        if name in NOT_PIP_PACKAGES:
            continue
        assert op, f"{path.name}: {name} is not pinned (write {name}==VERSION)"
        pins[canonicalize_name(CONDA_TO_PIP.get(name, name))] = CondaPin(Version(version), build, False)
    return pins, other


def test_constraints_pin_every_dependency_and_satisfy_pyproject():
    pins = constraint_pins(REPO / "requirements" / "cpu-constraints.txt")
    declared = {**requirements(), **requirements("test")}
    assert set(pins) == set(declared), (
        f"not pinned in requirements/: {sorted(set(declared) - set(pins))}; "
        f"pinned but not declared in pyproject.toml: {sorted(set(pins) - set(declared))}")
    for name, version in pins.items():
        assert version in declared[name].specifier, f"{name}=={version} is outside pyproject's {declared[name]}"
    # a CUDA set-up keeps its own torch and uses constraints.txt alone: everything else stays pinned there
    assert set(pins) - set(constraint_pins(REPO / "requirements" / "constraints.txt")) == {"torch", "torchvision"}
    # the gpu extra pins the same torch/torchvision (from PyPI, CUDA builds on Linux)
    gpu = requirements("gpu")
    assert {n: Version(next(iter(r.specifier)).version) for n, r in gpu.items()} == {
        n: pins[n] for n in ("torch", "torchvision")}


@pytest.mark.parametrize("env_file", ["environment.yml", "environment-gpu.yml"])
def test_conda_environment_pins_the_versions_of_the_pip_path(env_file):
    pins, other = conda_pins(REPO / env_file)
    tested = constraint_pins(REPO / "requirements" / "cpu-constraints.txt")
    assert set(pins) == set(tested), (
        f"{env_file} lacks {sorted(set(tested) - set(pins))}; has more: {sorted(set(pins) - set(tested))}")
    for name, pin in pins.items():
        assert pin.version == tested[name], f"{env_file}: {name} {pin.version}, the pip path tests {tested[name]}"
    assert other == ["-e ."], other
    python = next(d for d in yaml.safe_load((REPO / env_file).read_text())["dependencies"]
                  if isinstance(d, str) and d.startswith("python="))
    assert Version(python.split("=", 1)[1]) in SpecifierSet(pyproject()["project"]["requires-python"])
    assert pins["torch"].build == ("cpu_*" if env_file == "environment.yml" else "cuda*")


def test_gpu_environment_differs_only_in_the_torch_build():
    def without_torch_build(name: str) -> list[str]:
        lines = (REPO / name).read_text().splitlines()
        return [re.sub(r"^(\s*- pytorch=[^=]+)=.*$", r"\1", line) for line in lines
                if not line.startswith("#") and not line.startswith("name:")]

    assert without_torch_build("environment.yml") == without_torch_build("environment-gpu.yml")


def test_installed_versions_are_the_pinned_ones():
    """The environment the tests run in is the pip path's: the pins of constraints.txt are what is installed
    (torch/torchvision may be a CUDA build kept by scripts/setup.sh, so only their base version is compared when
    they come from cpu-constraints.txt)."""
    for name, version in constraint_pins(REPO / "requirements" / "constraints.txt").items():
        installed = Version(importlib.metadata.version(name))
        assert installed == version, f"{name} {installed} is installed, requirements/constraints.txt pins {version}"


def _third_party_imports(folder: Path) -> dict[str, str]:
    """top-level module → first file importing it, for the non-stdlib, non-ganbench imports under ``folder``."""
    found: dict[str, str] = {}
    local = {p.stem for p in folder.glob("*.py")} | {"ganbench", "conftest"}
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in local and top != "__future__":
                    found.setdefault(top, str(path.relative_to(REPO)))
    return found


@pytest.mark.parametrize("folder, groups", [("ganbench", [None]), ("tests", [None, "test"])])
def test_every_imported_package_is_declared(folder, groups):
    declared = set().union(*(requirements(g) for g in groups))
    # transitive: packaging comes with pytest, setuptools with the build backend; neither is ganbench's own
    allowed = {"packaging", "setuptools"} if folder == "tests" else set()
    dists = importlib.metadata.packages_distributions()
    for module, where in _third_party_imports(REPO / folder).items():
        names = {canonicalize_name(d) for d in dists.get(module, [module])}
        assert names & (declared | allowed), (
            f"{where} imports {module} (distribution {sorted(names)}), which pyproject.toml does not declare")


def test_build_metadata_matches_the_project(tmp_path):
    """The wheel metadata builds with the build requirement's setuptools (non-isolated: the venv's), carries the
    SPDX licence with its file, the version of ganbench.__version__, psutil and the bounded dependencies."""
    from setuptools import __version__ as setuptools_version

    (req,) = [Requirement(r) for r in pyproject()["build-system"]["requires"] if r.startswith("setuptools")]
    assert Version("77") in req.specifier and Version("76.9") not in req.specifier, req  # SPDX `license = "MIT"`
    assert Version(setuptools_version) in req.specifier
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, tmp_path / name)
    shutil.copytree(REPO / "ganbench", tmp_path / "ganbench", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "meta").mkdir()
    build = subprocess.run([sys.executable, "-c", "import sys; from setuptools.build_meta import "
                            "prepare_metadata_for_build_wheel as prepare; print(prepare(sys.argv[1]))", "meta"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-3000:]
    meta = importlib.metadata.PathDistribution(tmp_path / "meta" / build.stdout.split()[-1])
    assert meta.metadata["License-Expression"] == "MIT"
    assert meta.metadata["License-File"] == "LICENSE" and "MIT License" in (REPO / "LICENSE").read_text()
    assert meta.version == ganbench.__version__
    assert set(meta.metadata.get_all("Provides-Extra")) >= {"test", "gpu", "dev"}
    requires = {canonicalize_name(Requirement(r).name): Requirement(r) for r in meta.requires
                if "extra ==" not in r}
    assert "psutil" in requires
    fidelity = requires["torch-fidelity"].specifier
    assert Version("0.4.0") in fidelity and Version("0.5.0") not in fidelity  # internal functions: next minor out
    slurm = requires["snakemake-executor-plugin-slurm"].specifier
    assert Version("2.0.3") not in slurm and SLURM_STATUS_COMMAND_SINCE in slurm and Version("3.0") not in slurm
    assert any(c.startswith("Programming Language :: Python :: 3.11") for c in meta.metadata.get_all("Classifier"))


def test_slurm_profile_settings_exist_in_the_plugin():
    """Every `slurm-*` key of the SLURM profile is a setting of the installed executor plugin (an older plugin
    rejects an unknown one, which the pyproject floor rules out)."""
    from snakemake_executor_plugin_slurm import ExecutorSettings

    fields = {f.name for f in dataclasses.fields(ExecutorSettings)}
    profile = yaml.safe_load((REPO / "workflow" / "profiles" / "slurm" / "config.yaml").read_text())
    keys = [k for k in profile if k.startswith("slurm-")]
    assert "slurm-status-command" in keys
    for key in keys:
        assert key.removeprefix("slurm-").replace("-", "_") in fields, f"{key}: not a setting of the plugin"


@pytest.mark.parametrize("build", ["cpu", "cuda"])
def test_setup_keeps_a_cuda_build_of_torch(tmp_path, build):
    """scripts/setup.sh installs with the CPU pins unless .venv already holds a CUDA build of torch, which it keeps.

    Run in a copy of the project whose .venv/bin/python is this interpreter, with GANBENCH_SETUP_DRY_RUN=1 so that
    it prints its pip commands. The CPU case uses the installed torch; no CUDA build of torch exists on the CPU
    machines that run the tests, so the CUDA case puts a `torch` module that reports a CUDA version first on the
    path (what setup.sh reads: torch.__version__ and torch.version.cuda)."""
    work = tmp_path / "clone"
    (work / "requirements").mkdir(parents=True)
    (work / "scripts").mkdir()
    (work / ".venv" / "bin").mkdir(parents=True)
    shutil.copy(REPO / "pyproject.toml", work)
    shutil.copy(REPO / "scripts" / "setup.sh", work / "scripts")
    for path in (REPO / "requirements").glob("*.txt"):
        shutil.copy(path, work / "requirements")
    path_prefix = ""
    if build == "cuda":
        fake = tmp_path / "cuda-torch" / "torch"
        fake.mkdir(parents=True)
        (fake / "__init__.py").write_text(
            "__version__ = '2.13.0+cu128'\nclass version:\n    cuda = '12.8'\n    hip = None\n")
        path_prefix = f"PYTHONPATH={fake.parent} "
    python = work / ".venv" / "bin" / "python"
    python.write_text(f"#!/bin/sh\n{path_prefix}exec {sys.executable} \"$@\"\n")
    python.chmod(0o755)
    proc = subprocess.run(["bash", "scripts/setup.sh"], cwd=work, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "GANBENCH_SETUP_DRY_RUN": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    install = [line for line in proc.stdout.splitlines() if "would run:" in line and "-e .[test]" in line]
    assert len(install) == 1, proc.stdout
    if build == "cuda":
        assert "keeping the GPU build of torch in .venv (2.13.0+cu128)" in proc.stdout
        assert "-c requirements/constraints.txt" in install[0]
    else:
        assert "keeping" not in proc.stdout
        assert "-c requirements/cpu-constraints.txt" in install[0]
    assert not (work / ".venv" / ".ganbench-installed").exists(), "a dry run must not mark the venv as set up"


def test_the_rules_conda_environment_pins_the_tested_versions():
    """workflow/envs/ganbench.yaml (every rule's software under --software-deployment-method conda) holds what the
    jobs import, at the versions the pip path tests; torch without a build string (conda picks CPU or CUDA)."""
    pins, other = conda_pins(REPO / "workflow" / "envs" / "ganbench.yaml")
    tested = constraint_pins(REPO / "requirements" / "cpu-constraints.txt")
    runtime = set(tested) - {"snakemake", "snakemake-executor-plugin-slurm", "pytest", "playwright", "snakefmt", "ruff"}
    assert set(pins) == runtime, (sorted(runtime - set(pins)), sorted(set(pins) - runtime))
    for name, pin in pins.items():
        assert pin.version == tested[name], f"workflow/envs/ganbench.yaml: {name} {pin.version} vs {tested[name]}"
    assert pins["torch"].build is None and other == []
