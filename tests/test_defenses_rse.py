"""RSE on any network (``add_noise_layers``) and RSE's inference as a stochastic defense
(``RSEEnsemble``): structure, state_dict round trip, exact equality at sigma 0, determinism under a
fixed generator, row independence, frozen draws, ``probs`` and Monte Carlo counts."""

from __future__ import annotations

import io

import pytest
import torch
from torch import nn

from paperlib.defenses import RSEEnsemble
from paperlib.metrics import monte_carlo_counts
from paperlib.models import build
from paperlib.models.init import init_weights
from paperlib.models.noise import GaussianNoise, noise_layers
from paperlib.models.rse import add_noise_layers
from paperlib.seeding import make_generator

torch.set_num_threads(1)

X = torch.rand(4, 3, 32, 32, generator=make_generator(0, "x"))


def tiny_resnet(seed=0):
    return build("resnet18", 10, width=0.125, seed=seed).eval()


class SmallNet(nn.Module):
    """Three convolutions (one inside a Sequential) and a linear head; 5 classes."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.body = nn.Sequential(nn.ReLU(), nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.ReLU())
        self.conv3 = nn.Conv2d(8, 8, 3, stride=2, padding=1)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        return self.fc(self.conv3(self.body(self.conv1(x))).mean((2, 3)))


def small_net(seed=0):
    return init_weights(SmallNet(), make_generator(seed, "init", "small-net")).eval()


def noisy_small(seed=0, init=0.2, inner=0.1):
    return add_noise_layers(small_net(seed), init, inner)


# --- add_noise_layers --------------------------------------------------------------------------

def test_add_noise_layers_structure():
    model = tiny_resnet()
    n_conv = sum(isinstance(m, nn.Conv2d) for m in model.modules())
    assert add_noise_layers(model, 0.3, 0.1) is model
    layers = list(noise_layers(model))
    assert len(layers) == n_conv == sum(isinstance(m, nn.Conv2d) for m in model.modules())
    assert layers[0].sigma == 0.3 and all(layer.sigma == 0.1 for layer in layers[1:])
    assert len({layer._index for layer in layers}) == n_conv
    # Every convolution sits right after its noise layer; the first is the stem (RGB input).
    wrapped = [m for m in model.modules() if isinstance(m, nn.Sequential) and len(m) == 2
               and isinstance(m[0], GaussianNoise) and isinstance(m[1], nn.Conv2d)]
    assert len(wrapped) == n_conv and wrapped[0][1].in_channels == 3
    with pytest.raises(ValueError, match="already has GaussianNoise"):
        add_noise_layers(model, 0.3, 0.1)


def test_add_noise_layers_order_follows_registration():
    model = add_noise_layers(small_net(), 0.5, 0.0)
    assert [layer.sigma for layer in noise_layers(model)] == [0.5, 0.0, 0.0]
    assert isinstance(model.conv1[0], GaussianNoise) and model.conv1[0].sigma == 0.5
    assert isinstance(model.body[1], nn.Sequential) and isinstance(model.body[2], nn.ReLU)


def test_add_noise_layers_sigma_zero_is_exact():
    plain, noisy = tiny_resnet(), add_noise_layers(tiny_resnet(), 0.0, 0.0)
    with torch.no_grad():
        assert torch.equal(plain(X), noisy(X))


def test_add_noise_layers_state_dict_round_trip():
    src = add_noise_layers(tiny_resnet(seed=0), 0.2, 0.1)
    assert "net.conv1.1.weight" in src.state_dict()
    buf = io.BytesIO()
    torch.save(src.state_dict(), buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    dst = add_noise_layers(tiny_resnet(seed=1), 0.2, 0.1)
    dst.load_state_dict(state, strict=True)
    for (n1, p1), (n2, p2) in zip(src.state_dict().items(), dst.state_dict().items()):
        assert n1 == n2 and torch.equal(p1, p2)
    with pytest.raises(RuntimeError):  # the renaming: an untransformed model does not load it
        tiny_resnet().load_state_dict(state, strict=True)


# --- RSEEnsemble --------------------------------------------------------------------------------

def test_rse_ensemble_generator_determinism():
    d = RSEEnsemble([noisy_small(0), noisy_small(1)])
    with torch.no_grad():
        a = d(X, generator=make_generator(0, "defense-noise"))
        b = d(X, generator=make_generator(0, "defense-noise"))
        c = d(X, generator=make_generator(1, "defense-noise"))
    assert torch.equal(a, b) and not torch.allclose(a, c)


def test_rse_ensemble_rows_independent():
    d = RSEEnsemble([noisy_small()])
    x = X[:1].expand(2, -1, -1, -1)
    with torch.no_grad():
        z = d(x, generator=make_generator(0, "defense-noise"))
    assert not torch.allclose(z[0], z[1])


def test_rse_ensemble_sigma_zero_is_plain_sum():
    plain = [small_net(0), small_net(1)]
    d = RSEEnsemble([add_noise_layers(small_net(0), 0.0, 0.0), add_noise_layers(small_net(1), 0.0, 0.0)])
    with torch.no_grad():
        assert torch.equal(d(X, generator=make_generator(0, "defense-noise")), plain[0](X) + plain[1](X))


def test_rse_ensemble_restores_noise_state():
    model = noisy_small()
    layers = list(noise_layers(model))
    for layer in layers:
        layer.enabled = False
    d = RSEEnsemble([model])
    with torch.no_grad():
        z = d(X, generator=make_generator(0, "defense-noise"))
        off = model(X)  # noise disabled again: the plain network
    assert not torch.allclose(z, off)  # the noise was on during the query
    assert all(layer.generator is None and layer.enabled is False for layer in layers)


def test_rse_ensemble_needs_noise_layers():
    with pytest.raises(ValueError, match="no GaussianNoise"):
        RSEEnsemble([small_net()])
    with pytest.raises(ValueError, match="empty"):
        RSEEnsemble([])


def test_rse_ensemble_draw_is_deterministic_and_differentiable():
    d = RSEEnsemble([noisy_small(0), noisy_small(1)])
    frozen = d.draw(make_generator(0, "defense-noise"))
    x = X.clone().requires_grad_(True)
    z = frozen(x)
    assert torch.equal(z, frozen(X))
    z.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert d.condition(make_generator(0, "defense-noise")) is d


def test_rse_ensemble_probs_and_monte_carlo():
    d = RSEEnsemble([add_noise_layers(tiny_resnet(), 0.2, 0.1)])
    g = make_generator(0, "defense-noise")
    with torch.no_grad():
        p = d.probs(X, n=8, generator=g)
    assert p.shape == (4, 10) and torch.allclose(p.sum(1), torch.ones(4))
    counts = monte_carlo_counts(d, X, n=8, generator=g, chunk=16)
    assert counts.shape == (4, 10) and counts.sum(1).tolist() == [8] * 4
