"""The core library does not depend on any task package (sb3_spiking.tasks.*).

Two checks: every core module imports in a fresh interpreter in which ``sb3_spiking.tasks`` cannot
be imported at all, and no core module has an import statement naming a task package (which would
catch an import inside a function, run only on some code path).
"""

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import sb3_spiking

PACKAGE = Path(sb3_spiking.__file__).resolve().parent
TASKS = "sb3_spiking.tasks"


def _is_python(name: str) -> bool:
    """A module with Python source: not the LIF kernel that ``pip install`` builds as a shared library
    in the package folder (ctypes loads it; it is no importable extension module)."""
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def _core_modules() -> list[str]:
    names = ["sb3_spiking"]
    for info in pkgutil.walk_packages([str(PACKAGE)], prefix="sb3_spiking."):
        if info.name != TASKS and not info.name.startswith(TASKS + ".") and not info.name.endswith("__main__"):
            if _is_python(info.name):
                names.append(info.name)
    return names


def test_core_modules_import_with_the_task_packages_blocked():
    modules = _core_modules()
    assert {"sb3_spiking.guided_td3.guided_td3", "sb3_spiking.zoo.manager", "sb3_spiking.rollout"} <= set(modules)
    script = (
        "import importlib, sys\n"
        f"sys.modules[{TASKS!r}] = None  # any import of a task package fails\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "from sb3_spiking.task_registry import load_tasks\n"
        "assert load_tasks() == []\n"
        f"loaded = sorted(m for m in sys.modules if m.startswith({TASKS + '.'!r}))\n"
        "assert not loaded, loaded\n"
        "print('ok', len(sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=PACKAGE.parent)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("ok")


def test_no_core_module_names_a_task_package_in_an_import():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        if relative.parts[:2] == ("sb3_spiking", "tasks"):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            offenders += [f"{relative}:{node.lineno} {n}" for n in names if n == TASKS or n.startswith(TASKS + ".")]
    assert offenders == []


def test_the_drone_task_is_found_and_registered():
    import gymnasium as gym
    import pytest

    from sb3_spiking.task_registry import load_tasks

    assert "drone" in load_tasks()
    pytest.importorskip("l2f")
    assert "DroneHover-v0" in gym.registry


def test_importing_the_package_imports_no_task_and_reads_the_version_from_metadata():
    script = (
        "import sys, sb3_spiking\n"
        f"loaded = sorted(m for m in sys.modules if m.startswith({TASKS + '.'!r}))\n"
        "assert not loaded, loaded\n"
        "from importlib import metadata\n"
        "assert sb3_spiking.__version__ == metadata.version('sb3_spiking')\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=PACKAGE.parent)
    assert result.returncode == 0, result.stderr[-3000:]


def test_tasks_come_from_the_entry_points_an_install_declares(monkeypatch):
    """What ``pip install`` writes from pyproject.toml's [project.entry-points."sb3_spiking.tasks"] is what is loaded,
    with another distribution's task beside them; the package scan is only the fallback of a tree without metadata."""
    import re
    from importlib import metadata

    from sb3_spiking import task_registry

    text = (PACKAGE.parent / "pyproject.toml").read_text()
    section = text.split('[project.entry-points."sb3_spiking.tasks"]')[1].split("\n[")[0]
    declared = dict(re.findall(r'^(\w+)\s*=\s*"([^"]+)"', section, re.MULTILINE))
    assert declared == {name: f"sb3_spiking.tasks.{name}" for name in ("drone", "lunar_lander", "pendulum")}
    group = task_registry.ENTRY_POINT_GROUP
    own = [metadata.EntryPoint(name, value, group) for name, value in declared.items()]
    other = metadata.EntryPoint("cartpole_plugin", "another_package.cartpole", group)
    installed = metadata.EntryPoints([*own, other])

    class Distribution:
        entry_points = metadata.EntryPoints(own)

    monkeypatch.setattr(metadata, "entry_points", lambda group=None: installed.select(group=group))
    monkeypatch.setattr(metadata, "distribution", lambda name: Distribution())
    assert task_registry.task_modules() == {**declared, "cartpole_plugin": "another_package.cartpole"}
    assert task_registry.load_task("pendulum").__name__ == "sb3_spiking.tasks.pendulum"
    with pytest.warns(RuntimeWarning, match="cartpole_plugin"):  # a plugin that cannot be imported is named, skipped
        assert sorted(task_registry.load_tasks()) == sorted(declared)


def test_old_import_paths_of_the_pendulum_task_resolve_through_the_registry():
    from sb3_spiking.envs.pendulum import PendulumSwingUpGuide
    from sb3_spiking.tasks.pendulum import PendulumSwingUpGuide as moved
    from sb3_spiking.zoo.envs import PENDULUM_NOVEL_PRIVILEGED

    assert PendulumSwingUpGuide is moved and PENDULUM_NOVEL_PRIVILEGED == "PendulumNoVelPrivileged-v1"
