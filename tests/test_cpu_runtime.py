"""paperlib.cpu_runtime: the process-wide settings importing paperlib.models applies."""

import os
import platform
import subprocess
import sys

import pytest
import torch

import paperlib.models  # noqa: F401  (applies the settings)
from paperlib import cpu_runtime


def test_denormals_are_flushed_after_importing_the_models():
    tiny = torch.tensor([1e-40], dtype=torch.float32)  # subnormal in fp32
    assert float(tiny * 1.0) == 0.0
    assert float(torch.tensor([1e-30]) * 1.0) > 0  # normal numbers untouched


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_allocator_settings_are_accepted_by_glibc():
    assert cpu_runtime.tune_allocator() is True
    # Allocations of every size still work and give what they should after the change.
    for n in (1, 1 << 10, 1 << 20, 10 << 20, 40 << 20):
        t = torch.ones(n // 4)
        assert float(t.sum()) == n // 4


def test_environment_switch_leaves_a_bare_process():
    """With PAPERLIB_CPU_RUNTIME=off a fresh process keeps subnormal floats (the switch works)."""
    code = ("import torch, paperlib.models; from paperlib import cpu_runtime; "
            "print(float(torch.tensor([1e-40]) * 1.0) > 0, cpu_runtime.apply())")
    env = {**os.environ, "PAPERLIB_CPU_RUNTIME": "off"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False"]
