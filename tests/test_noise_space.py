"""The space of a noise sigma (pixel or normalized, SEM issue item 6) and the one function that
adds input noise: closed forms, equivalence with noise added after ``Normalize``, per-channel
smoothing and certification, the training engine's option, and the pixel default drawing
exactly what the code before it drew."""

from __future__ import annotations

import math

import pytest
import torch
from scipy.stats import norm
from torch import nn

from paperlib.config.schema import ParamsError, from_mapping
from paperlib.defenses import GaussianSmoothing, NoisyLogit
from paperlib.models.noise_space import (NOISE_SPACES, add_gaussian_noise, check_noise_space,
                                           normalization_std, pixel_noise_std)
from paperlib.metrics import Smooth
from paperlib.models.normalization import CIFAR10_STD, MNIST_STD, Normalize
from paperlib.seeding import make_generator
from paperlib.train import TrainConfig, train
from paperlib.train import config as train_config
from paperlib.train.engine import input_noise_std

SIGMAS = (0.25, 0.75, 1.5)


class Flat(nn.Module):
    """Returns the (noisy) input itself as 'logits': makes the injected noise observable."""

    def forward(self, x):
        return x.flatten(1)


class Constant(nn.Module):
    """Always class 0 (of 3), whatever the noise: ``pA = 1`` for the certification tests."""

    def forward(self, x):
        out = torch.zeros(x.shape[0], 3, dtype=x.dtype, device=x.device)
        out[:, 0] = 1.0
        return out


def _normalized_net(std=(0.2, 0.4, 0.8), size=4, classes=10):
    return nn.Sequential(Normalize((0.5, 0.4, 0.3), std), nn.Flatten(), nn.Linear(3 * size * size, classes))


def _channel_std(x: torch.Tensor) -> torch.Tensor:
    return x.transpose(0, 1).reshape(x.shape[1], -1).std(1)


# ------------------------------------------------------------------ closed forms and validation


@pytest.mark.parametrize("sigma", SIGMAS)
def test_pixel_noise_std_closed_forms(sigma):
    assert NOISE_SPACES == ("pixel", "normalized")
    assert pixel_noise_std(sigma, "pixel") == (sigma,) * 3
    assert pixel_noise_std(sigma, "pixel", 1) == (sigma,)
    assert pixel_noise_std(sigma, "pixel", (0.3, 0.3)) == (sigma, sigma)
    assert pixel_noise_std(sigma, "normalized") == tuple(sigma * s for s in CIFAR10_STD)
    assert pixel_noise_std(sigma, "normalized", 3) == tuple(sigma * s for s in CIFAR10_STD)
    assert pixel_noise_std(sigma, "normalized", 1) == (sigma * MNIST_STD[0],)
    assert pixel_noise_std(sigma, "normalized", (0.1, 2.0)) == (sigma * 0.1, sigma * 2.0)
    # a model: the std of its Normalize layer
    assert pixel_noise_std(sigma, "normalized", _normalized_net()) == (sigma * 0.2, sigma * 0.4, sigma * 0.8)
    # the numbers: sigma 1.5 normalized is about 0.37 in CIFAR-10 pixels
    assert pixel_noise_std(1.5, "normalized") == pytest.approx((0.3705, 0.36525, 0.3924))
    assert pixel_noise_std(0.0, "normalized") == (0.0, 0.0, 0.0)


def test_normalization_std_of_a_registry_model():
    from paperlib.models import build

    net = build("lenet5", 10, in_channels=1, width=1.0, seed=0)
    assert normalization_std(net) == MNIST_STD
    assert normalization_std(nn.Linear(2, 2)) is None
    with pytest.raises(ValueError, match="Normalize"):
        pixel_noise_std(0.5, "normalized", nn.Linear(2, 2))


def test_bad_inputs_are_errors_naming_the_setting():
    with pytest.raises(ValueError, match="space must be one of"):
        pixel_noise_std(0.5, "logit")
    with pytest.raises(ValueError, match="sem.zoo.noise_space must be one of"):
        check_noise_space("Pixel", "sem.zoo.noise_space")
    assert check_noise_space("normalized") == "normalized"
    for bad in (-0.1, float("nan"), True, "0.5"):
        with pytest.raises(ValueError, match="sigma"):
            pixel_noise_std(bad, "pixel")
    with pytest.raises(ValueError, match="std"):
        pixel_noise_std(0.5, "normalized", (0.2, -0.1, 0.3))
    with pytest.raises(ValueError, match="channels"):
        add_gaussian_noise(torch.zeros(2, 3, 4, 4), (0.1, 0.2), make_generator(0, "t"))
    with pytest.raises(ValueError, match="std"):
        add_gaussian_noise(torch.zeros(2, 3, 4, 4), (0.1, -0.2, 0.3), make_generator(0, "t"))
    with pytest.raises(ValueError, match="sigma"):
        GaussianSmoothing(Flat(), (0.1, -0.2, 0.3))
    with pytest.raises(ValueError, match="sigma"):
        Smooth(Flat(), 3, (0.1, 0.0, 0.3))  # a channel without noise certifies nothing


# ------------------------------------------------------------------ the noise itself


@pytest.mark.parametrize("sigma", SIGMAS)
def test_normalized_space_noise_equals_noise_after_normalize(sigma):
    """Normalize(x + sigma * std_c * z) == Normalize(x) + sigma * z for the same z."""
    std = (0.2470, 0.2435, 0.2616)
    normalize = Normalize((0.4914, 0.4822, 0.4465), std)  # the models' layer (float32 buffers)
    x = torch.rand(8, 3, 5, 5, generator=torch.Generator().manual_seed(1))
    noisy = add_gaussian_noise(x, pixel_noise_std(sigma, "normalized", std), make_generator(0, "z"))
    z = torch.randn(x.shape, generator=make_generator(0, "z"))
    torch.testing.assert_close(normalize(noisy), normalize(x) + sigma * z, rtol=0, atol=2e-6)  # float32 rounding
    # in float64 (stats in float64 too) the identity holds to 1e-12
    m64 = torch.tensor((0.4914, 0.4822, 0.4465), dtype=torch.float64).view(1, 3, 1, 1)
    s64 = torch.tensor(std, dtype=torch.float64).view(1, 3, 1, 1)
    x64 = x.double()
    noisy64 = add_gaussian_noise(x64, pixel_noise_std(sigma, "normalized", std), make_generator(0, "z"))
    z64 = torch.randn(x.shape, generator=make_generator(0, "z"), dtype=torch.float64)
    torch.testing.assert_close((noisy64 - m64) / s64, (x64 - m64) / s64 + sigma * z64, rtol=0, atol=1e-12)
    # and the pixel reading is not that: its noise after Normalize is sigma * z / std_c
    pixel = add_gaussian_noise(x, pixel_noise_std(sigma, "pixel", std), make_generator(0, "z"))
    assert not torch.allclose(normalize(pixel), normalize(x) + sigma * z, atol=1e-3)


def test_add_gaussian_noise_scalar_draws_exactly_the_old_expression():
    x = torch.rand(16, 3, 6, 6, generator=torch.Generator().manual_seed(2))
    out = add_gaussian_noise(x, 0.25, make_generator(5, "noise"))
    g = make_generator(5, "noise")
    old = x + 0.25 * torch.randn(x.shape, generator=g, device=x.device, dtype=x.dtype)
    assert torch.equal(out, old)
    # equal per-channel values draw and add exactly the same
    assert torch.equal(add_gaussian_noise(x, (0.25, 0.25, 0.25), make_generator(5, "noise")), old)
    assert torch.equal(add_gaussian_noise(x, torch.tensor(0.25), make_generator(5, "noise")), old)
    # std 0: x itself, and the generator is not advanced
    g0 = make_generator(5, "noise")
    assert add_gaussian_noise(x, 0.0, g0) is x
    assert add_gaussian_noise(x, (0.0, 0.0, 0.0), g0) is x
    assert torch.equal(g0.get_state(), make_generator(5, "noise").get_state())


def test_add_gaussian_noise_per_channel_is_one_batched_draw():
    std = (0.1, 0.5, 1.0)
    x = torch.zeros(4, 3, 2, 2)
    out = add_gaussian_noise(x, torch.tensor(std), make_generator(3, "noise"))
    z = torch.randn(x.shape, generator=make_generator(3, "noise"))
    torch.testing.assert_close(out, torch.tensor(std).view(1, 3, 1, 1) * z, rtol=0, atol=0)
    assert out.dtype == x.dtype


# ------------------------------------------------------------------ smoothing and certification


@pytest.mark.parametrize("space", NOISE_SPACES)
def test_gaussian_smoothing_per_channel_std_matches_the_closed_form(space):
    std = pixel_noise_std(1.0, space, (0.2470, 0.2435, 0.6))
    d = GaussianSmoothing(Flat(), std, generator=make_generator(0, "smoothing"))
    assert d.sigma == std
    x = torch.full((2000, 3, 4, 4), 0.5)
    noise = d(x).view_as(x) - 0.5
    emp = _channel_std(noise)
    torch.testing.assert_close(emp, torch.tensor(std), rtol=0.03, atol=0)  # n = 32,000 per channel: sd 0.4%
    assert noise.mean().abs() < 0.02


def test_scalar_smoothing_defaults_unchanged():
    """The code before per-channel noise, written out: the same outputs for a fixed generator."""
    torch.manual_seed(0)
    model = _normalized_net()
    x = torch.rand(6, 3, 4, 4, generator=torch.Generator().manual_seed(4))
    g = make_generator(9, "defense-noise")
    before = model(x + 0.25 * torch.randn(x.shape, generator=g, device=x.device, dtype=x.dtype))
    d = GaussianSmoothing(model, 0.25)
    assert d.sigma == 0.25 and isinstance(d.sigma, float)
    assert torch.equal(d(x, generator=make_generator(9, "defense-noise")), before)
    assert torch.equal(GaussianSmoothing(model, 0)(x, generator=make_generator(9, "defense-noise")), model(x))
    assert torch.equal(NoisyLogit(model, 0.25)(x, generator=make_generator(9, "defense-noise")), before)
    sm = Smooth(model, 10, 0.25)
    assert sm.sigma == 0.25 and sm.radius_sigma == 0.25
    counts = sm.counts(x, 5, make_generator(1, "mc"))
    stacked = x.repeat(5, 1, 1, 1)
    g = make_generator(1, "mc")
    ref = model(stacked + 0.25 * torch.randn(stacked.shape, generator=g)).argmax(1).view(5, 6)
    ref_counts = torch.stack([torch.bincount(ref[:, i], minlength=10) for i in range(6)])
    assert torch.equal(counts.cpu(), ref_counts)


def test_certified_radius_with_per_channel_std_is_the_smallest_channel():
    x = torch.rand(3, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    n = 200
    _, r_scalar, p_scalar = Smooth(Constant(), 3, 0.2).certify(x, 10, n, 0.001, make_generator(0, "c"))
    pred, r, p = Smooth(Constant(), 3, (0.5, 0.2, 0.3)).certify(x, 10, n, 0.001, make_generator(0, "c"))
    assert (pred == 0).all()
    expected = 0.2 * norm.ppf(p)
    assert r == pytest.approx(expected) and r == pytest.approx(r_scalar)
    assert math.isclose(float(p[0]), 0.001 ** (1 / n))  # Clopper-Pearson lower bound with k = n
    assert Smooth(Constant(), 3, (0.5, 0.2, 0.3)).radius_sigma == 0.2


# ------------------------------------------------------------------ the training engine


class _Batches:
    """Callback keeping the (noisy) training batches the engine fed to the model."""

    def __init__(self):
        self.x = []

    def on_step_end(self, state):
        self.x.append(state.x.detach().clone())


def _zeros(n=256, size=4):
    # zero images without augmentation: the batch the model sees is the noise itself
    return torch.zeros(n, 3, size, size, dtype=torch.uint8), torch.arange(n) % 10


def test_train_config_field_validation_and_record():
    assert train_config.NOISE_SPACES == NOISE_SPACES  # the torch-free copy
    assert TrainConfig().input_noise_space == "pixel"
    with pytest.raises(ValueError, match="input_noise_space"):
        TrainConfig(input_noise_sigma=0.5, input_noise_space="normalised")
    with pytest.raises(ParamsError, match="sem.zoo.finetune.*input_noise_space"):
        from_mapping(TrainConfig, {"input_noise_space": "pixels"}, "sem.zoo.finetune")
    # the default is not recorded, so pixel runs keep the record (and the pinned zoo's) they had
    assert "input_noise_space" not in TrainConfig(input_noise_sigma=0.25).to_dict()
    cfg = TrainConfig(input_noise_sigma=0.25, input_noise_space="normalized")
    d = cfg.to_dict()
    assert d["input_noise_space"] == "normalized"
    assert TrainConfig.from_dict({k: v for k, v in d.items() if k != "adversarial"}) == cfg


def test_engine_pixel_noise_is_the_old_stream():
    x, y = _zeros()
    cfg = TrainConfig(epochs=1, batch_size=64, lr=0.01, augment=False, input_noise_sigma=0.25,
                      checkpoint_every=0)
    seen = _Batches()
    train(_normalized_net(), x, y, cfg, seed=3, callbacks=[seen], progress=False)
    g = make_generator(3, "train", "input-noise")
    for xb in seen.x:  # old code: xb + sigma * torch.randn(xb.shape, generator=..., device=device)
        assert torch.equal(xb, torch.zeros(xb.shape) + 0.25 * torch.randn(xb.shape, generator=g))
    assert input_noise_std(_normalized_net(), cfg, 3) == 0.25


def test_engine_normalized_noise_per_channel_std():
    std = (0.2, 0.4, 0.8)
    net = _normalized_net(std)
    x, y = _zeros(n=1024)
    cfg = TrainConfig(epochs=1, batch_size=1024, lr=0.01, augment=False, input_noise_sigma=0.5,
                      input_noise_space="normalized", checkpoint_every=0)
    expected = input_noise_std(net, cfg, 3)
    assert expected == pytest.approx((0.1, 0.2, 0.4))
    w0 = net[2].weight.detach().clone()
    seen = _Batches()
    hist = train(net, x, y, cfg, seed=7, callbacks=[seen], progress=False)
    assert hist["config"]["input_noise_space"] == "normalized"
    assert len(seen.x) == 1 and not torch.equal(net[2].weight, w0)  # one step taken
    xb = seen.x[0]
    assert torch.equal(xb, add_gaussian_noise(torch.zeros(xb.shape), expected,
                                              make_generator(7, "train", "input-noise")))
    # n = 1024 * 16 = 16,384 values per channel: the std's sd is 0.55%
    torch.testing.assert_close(_channel_std(xb), torch.tensor(expected), rtol=0.03, atol=0)
    # after the model's Normalize the noise has std sigma on every channel
    after = net[0](xb) - net[0](torch.zeros_like(xb))
    torch.testing.assert_close(_channel_std(after), torch.full((3,), 0.5), rtol=0.03, atol=0)


def test_engine_normalized_without_a_normalize_layer_uses_the_default_stats():
    cfg = TrainConfig(input_noise_sigma=1.5, input_noise_space="normalized")
    plain = nn.Sequential(nn.Flatten(), nn.Linear(48, 10))
    assert input_noise_std(plain, cfg, 3) == pixel_noise_std(1.5, "normalized", 3)
    assert input_noise_std(plain, cfg, 1) == (1.5 * MNIST_STD[0],)
    with pytest.raises(ValueError, match="one input normalization"):
        input_noise_std([_normalized_net((0.2, 0.4, 0.8)), _normalized_net((0.3, 0.3, 0.3))], cfg, 3)
    with pytest.raises(ValueError, match="channels"):
        input_noise_std(_normalized_net(), cfg, 1)
