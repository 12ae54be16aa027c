"""Build step of ``pip install``: the LIF layer's C kernel, compiled into the package.

Everything else about the package is in ``pyproject.toml``. The kernel is a plain C shared library
loaded with ctypes (:mod:`sb3_spiking._cbuild`), built here as a setuptools extension so that a
missing or broken C compiler fails the install instead of slowing training down later.
"""

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

#: as sb3_spiking._cbuild.FLAGS for the LIF kernel: no FMA contraction and no fast-math, so the
#: kernel repeats torch's roundings exactly
KERNEL_FLAGS = ["-O3", "-ffp-contract=off", "-fno-fast-math"]
#: the memory layers' kernel also without trapping math: its per-row loops vectorise only then (comparisons become
#: masks; the arithmetic and its rounding are unchanged, tests/test_memory_neurons.py); as memory_neurons._load_kernel
MEMORY_KERNEL_FLAGS = [*KERNEL_FLAGS, "-fno-trapping-math"]


class build_c_library(build_ext):
    """``build_ext`` for libraries that ctypes loads: they define no Python module init function."""

    def get_export_symbols(self, ext: Extension) -> list[str]:
        return list(ext.export_symbols or [])


setup(
    ext_modules=[
        Extension(
            "sb3_spiking._lif_kernel", sources=["sb3_spiking/_lif_kernel.c"], extra_compile_args=KERNEL_FLAGS, libraries=["m"]
        ),
        Extension(
            "sb3_spiking._memory_kernel", sources=["sb3_spiking/_memory_kernel.c"], extra_compile_args=MEMORY_KERNEL_FLAGS,
            libraries=["m"],
        ),
    ],
    cmdclass={"build_ext": build_c_library},
)
