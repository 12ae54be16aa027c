"""The LIF C kernel is built by ``pip install`` (setup.py): a compiler error fails the build, and the
built library is the one the package loads, with the same numbers as the kernel built on first use."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch as th

from sb3_spiking import _cbuild, neurons
from sb3_spiking.neurons import SpikingMLP

ROOT = Path(__file__).resolve().parents[1]

needs_cc = pytest.mark.skipif(shutil.which(os.environ.get("CC", "cc")) is None, reason="no C compiler")


def _build_ext(out: Path, **env: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "setup.py", "-q", "build_ext", "--build-lib", str(out / "lib"), "--build-temp", str(out / "tmp")]
    return subprocess.run(cmd, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=300)


def _sequence(net: SpikingMLP) -> list[th.Tensor]:
    th.manual_seed(3)
    x = th.randn(30, 4, 6, requires_grad=True)
    out, _ = net(x, net.initial_state(4))
    out.square().sum().backward()
    return [out.detach(), x.grad, *(p.grad for p in net.parameters())]


@needs_cc
def test_setup_builds_the_kernel_and_the_package_loads_it(tmp_path, monkeypatch):
    result = _build_ext(tmp_path)
    assert result.returncode == 0, result.stderr
    (built,) = (tmp_path / "lib" / "sb3_spiking").glob("_lif_kernel*")
    # an installed package: the library beside its source; no compiler is needed (nor run) to load it
    package = tmp_path / "installed"
    package.mkdir()
    shutil.copy2(neurons._KERNEL_SOURCE, package / "_lif_kernel.c")
    shutil.copy2(built, package / built.name)
    assert _cbuild.installed(package / "_lif_kernel.c") == package / built.name
    th.manual_seed(0)
    net = SpikingMLP(6, 3, (16, 8))
    first_use = _sequence(net)
    net.zero_grad()
    monkeypatch.setenv("CC", "false")  # a build would fail
    monkeypatch.setattr(neurons, "_KERNEL_SOURCE", package / "_lif_kernel.c")
    neurons._load_kernel.cache_clear()
    try:
        kernel = neurons._load_kernel()
        assert kernel is not None and Path(kernel._name) == package / built.name
        installed = _sequence(net)
    finally:
        neurons._load_kernel.cache_clear()
    for a, b in zip(first_use, installed):
        assert th.equal(a, b)


def test_a_compiler_error_fails_the_build(tmp_path):
    result = _build_ext(tmp_path, CC="false")
    assert result.returncode != 0


@needs_cc
def test_a_stale_installed_kernel_is_not_called(tmp_path, monkeypatch):
    """An installed library older than its source (an editable install after a kernel change) would be
    called with the wrong arguments: the source is built and loaded instead, with a warning."""
    monkeypatch.setenv("SB3_SPIKING_CACHE", str(tmp_path / "cache"))
    source = tmp_path / "_toy_kernel.c"
    source.write_text("#define KERNEL_ABI 1\nint kernel_abi(void) { return KERNEL_ABI; }\n")
    suffix = next(s for s in _cbuild.importlib.machinery.EXTENSION_SUFFIXES if s.endswith(".so"))
    stale = _cbuild.build(source, "toy")
    shutil.copy(stale, source.with_name(source.stem + suffix))  # "installed" with ABI 1
    assert _cbuild._abi(_cbuild.load(source, "toy", "toy")) == 1
    source.write_text("#define KERNEL_ABI 2\nint kernel_abi(void) { return KERNEL_ABI; }\n")
    assert _cbuild.load(source, "toy", "toy").kernel_abi() == 2
    for kernel in ("_lif_kernel.c", "_memory_kernel.c"):  # the package's kernels declare their ABI
        assert _cbuild.source_abi(ROOT / "sb3_spiking" / kernel) is not None
