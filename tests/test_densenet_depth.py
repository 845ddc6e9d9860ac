"""DenseNet-BC's ``depth`` option: the default is the reference DenseNet100, shallower depths
build and run, impossible depths are rejected."""

from __future__ import annotations

import pytest
import torch

from paperlib.models import build, count_parameters
from paperlib.seeding import make_generator

torch.set_num_threads(1)


def test_default_depth_is_densenet100():
    assert count_parameters(build("densenet100", 10, device="meta")) == 769_162
    assert count_parameters(build("densenet100", 10, device="meta", depth=100)) == 769_162


def test_depth_40_builds_and_runs():
    model = build("densenet100", 10, depth=40).eval()
    n_conv = sum(isinstance(m, torch.nn.Conv2d) for m in model.modules())
    assert n_conv == 1 + 3 * 6 * 2 + 2  # stem, 6 bottleneck layers per block, 2 transitions
    with torch.no_grad():
        z = model(torch.rand(2, 3, 32, 32, generator=make_generator(0, "x")))
    assert z.shape == (2, 10) and torch.isfinite(z).all()


@pytest.mark.parametrize("depth", [41, 4, 0, 40.0])
def test_bad_depth_raises(depth):
    with pytest.raises(ValueError, match="depth"):
        build("densenet100", 10, device="meta", depth=depth)
