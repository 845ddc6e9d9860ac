"""Tests of the model registry: shapes, parameter counts against the reference implementations
(published numbers and torchvision's own models built with the CIFAR changes), normalization
inside forward, seeded initialization and RSE noise layers."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from paperlib.models import ARCHITECTURES, build, count_parameters
from paperlib.models.noise import GaussianNoise, attach_noise_generator, noise_layers, set_noise_enabled
from paperlib.models.normalization import CIFAR10_MEAN, CIFAR10_STD
from paperlib.seeding import make_generator

# (arch, options) -> (parameters at width 1 with 10 classes, source). Independent numbers:
# printed in papers or in the reference repositories' READMEs, or counted by hand.
REFERENCE_COUNTS = {
    "resnet18": (11_173_962, "kuangliu/pytorch-cifar; huyvnphan README 11.174 M"),
    "resnet34": (21_282_122, "huyvnphan/PyTorch_CIFAR10 README 21.282 M"),
    "resnet50": (23_520_842, "huyvnphan/PyTorch_CIFAR10 README 23.521 M"),
    "vgg11": (28_150_000, "huyvnphan/PyTorch_CIFAR10 README vgg11_bn 28.150 M"),
    "vgg13": (28_334_000, "huyvnphan/PyTorch_CIFAR10 README vgg13_bn 28.334 M"),
    "vgg16": (33_647_000, "huyvnphan/PyTorch_CIFAR10 README vgg16_bn 33.647 M"),
    "vgg19": (38_959_000, "huyvnphan/PyTorch_CIFAR10 README vgg19_bn 38.959 M"),
    "densenet121": (6_956_000, "huyvnphan/PyTorch_CIFAR10 README 6.956 M"),
    "densenet161": (26_483_000, "huyvnphan/PyTorch_CIFAR10 README 26.483 M"),
    "densenet169": (12_493_000, "huyvnphan/PyTorch_CIFAR10 README 12.493 M"),
    "mobilenetv2": (2_237_000, "huyvnphan/PyTorch_CIFAR10 README 2.237 M"),
    "googlenet": (5_491_000, "huyvnphan/PyTorch_CIFAR10 README 5.491 M"),
    "inceptionv3": (21_640_000, "huyvnphan/PyTorch_CIFAR10 README 21.640 M"),
    "densenet100": (770_000, "bearpaw/pytorch-classification README densenet-bc-100-12 0.77 M"),
    "wrn": (36_500_000, "Zagoruyko & Komodakis 2016 Table 1/4: WRN-28-10 36.5 M"),
    "wrn28_10": (36_500_000, "Zagoruyko & Komodakis 2016: WRN-28-10 36.5 M"),
    "resnext": (34_400_000, "Xie et al. 2017 Table 7: ResNeXt-29 8x64d 34.4 M"),
    "resnext29_8x64d": (34_400_000, "Xie et al. 2017 Table 7: ResNeXt-29 8x64d 34.4 M"),
    "alexnet": (2_470_000, "bearpaw/pytorch-classification README alexnet 2.47 M"),
    "rse_vgg16": (14_728_266, "kuangliu/pytorch-cifar VGG16 (RSE's vgg_rse.py)"),
    "rse_resnext": (9_128_778, "kuangliu/pytorch-cifar ResNeXt29_2x64d (RSE's resnext_rse.py)"),
    # hand counts (weights + biases per layer)
    "lenet5": (156 + 2_416 + 48_120 + 10_164 + 850, "LeCun et al. 1998 C1+C3+C5+F6+output"),
    "cw_mnist": (320 + 9_248 + 18_496 + 36_928 + 205_000 + 40_200 + 2_010, "C&W 2017 Table 1 MNIST"),
    "cw_cifar": (1_792 + 36_928 + 73_856 + 147_584 + 819_456 + 65_792 + 2_570, "C&W 2017 Table 1 CIFAR"),
    "stl10_model_a": (896 + 18_496 + 73_856 + 147_584 + 295_168 + 590_080 + 2_570,
                      "pytorch-playground stl10(n_channel=32), BN without affine"),
}

INPUT = {"lenet5": (1, 28), "cw_mnist": (1, 28), "stl10_model_a": (3, 96)}


def _input_spec(arch):
    return INPUT.get(arch, (3, 32))


def test_reference_table_covers_registry():
    assert set(REFERENCE_COUNTS) == set(ARCHITECTURES)


def test_sem_table1_models_registered():
    sem = {"densenet100", "densenet121", "densenet161", "densenet169", "wrn", "resnet18", "resnet34",
           "resnet50", "vgg11", "vgg13", "vgg16", "vgg19", "alexnet", "inceptionv3", "mobilenetv2",
           "resnext", "googlenet"}
    assert sem <= set(ARCHITECTURES)
    assert len(sem) == 17  # + the WRN entry: 18 with wrn28_10 as WRN's named configuration


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_parameter_count_matches_reference(arch):
    c, _ = _input_spec(arch)
    expected, source = REFERENCE_COUNTS[arch]
    got = count_parameters(build(arch, 10, c, device="meta"))
    assert abs(got - expected) <= 0.01 * expected, f"{arch}: {got} vs {expected} ({source})"


def _tv(name, **kw):
    with torch.device("meta"):
        return getattr(torchvision.models, name)(**kw)


def _tv_resnet(name):
    m = _tv(name, num_classes=10)
    m.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False, device="meta")
    return m


def _tv_densenet(name, init):
    m = _tv(name, num_classes=10)
    m.features.conv0 = nn.Conv2d(3, init, 3, 1, 1, bias=False, device="meta")
    return m


def _tv_vgg(name):
    m = _tv(name, num_classes=10)
    m.classifier[0] = nn.Linear(512, 4096, device="meta")
    return m


def _tv_googlenet():
    from torchvision.models.googlenet import BasicConv2d

    m = _tv("googlenet", num_classes=10, aux_logits=False, init_weights=False)
    with torch.device("meta"):
        m.conv1 = BasicConv2d(3, 192, kernel_size=3, padding=1)
    m.conv2 = m.conv3 = nn.Identity()
    return m


def _tv_inception():
    from torchvision.models.inception import BasicConv2d

    m = _tv("inception_v3", num_classes=10, aux_logits=False, init_weights=False)
    with torch.device("meta"):
        m.Conv2d_1a_3x3 = BasicConv2d(3, 192, kernel_size=3, padding=1)
    for name in ("Conv2d_2a_3x3", "Conv2d_2b_3x3", "Conv2d_3b_1x1", "Conv2d_4a_3x3"):
        setattr(m, name, nn.Identity())
    return m


TORCHVISION_EQUIVALENTS = {
    "resnet18": lambda: _tv_resnet("resnet18"),
    "resnet34": lambda: _tv_resnet("resnet34"),
    "resnet50": lambda: _tv_resnet("resnet50"),
    "densenet121": lambda: _tv_densenet("densenet121", 64),
    "densenet161": lambda: _tv_densenet("densenet161", 96),
    "densenet169": lambda: _tv_densenet("densenet169", 64),
    "vgg11": lambda: _tv_vgg("vgg11_bn"),
    "vgg13": lambda: _tv_vgg("vgg13_bn"),
    "vgg16": lambda: _tv_vgg("vgg16_bn"),
    "vgg19": lambda: _tv_vgg("vgg19_bn"),
    "mobilenetv2": lambda: _tv("mobilenet_v2", num_classes=10),
    "googlenet": _tv_googlenet,
    "inceptionv3": _tv_inception,
}


@pytest.mark.parametrize("arch", sorted(TORCHVISION_EQUIVALENTS))
def test_parameter_count_equals_torchvision_with_cifar_stem(arch):
    """The CIFAR forms differ from torchvision's ImageNet models only in the stem (and VGG's
    classifier input), so after the same change the parameter counts must be identical, and
    so must the sorted list of parameter shapes."""
    ours = build(arch, 10, device="meta")
    ref = TORCHVISION_EQUIVALENTS[arch]()
    assert count_parameters(ours) == count_parameters(ref)
    shapes = lambda m: sorted(tuple(p.shape) for p in m.parameters())  # noqa: E731
    assert shapes(ours) == shapes(ref)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_output_shape_every_architecture(arch):
    c, s = _input_spec(arch)
    model = build(arch, 7, c, width=0.125).eval()
    with torch.no_grad():
        out = model(torch.rand(2, c, s, s))
    assert out.shape == (2, 7) and out.dtype == torch.float32 and torch.isfinite(out).all()


@pytest.mark.parametrize("arch", ["resnet18", "cw_mnist", "rse_resnext"])
def test_train_mode_forward_backward(arch):
    c, s = _input_spec(arch)
    model = build(arch, 5, c, width=0.125).train()
    out = model(torch.rand(4, c, s, s))
    out.sum().backward()
    assert out.shape == (4, 5)
    assert all(p.grad is not None for p in model.parameters())


def test_width_scales_parameters():
    full = count_parameters(build("resnet18", 10, device="meta"))
    quarter = count_parameters(build("resnet18", 10, width=0.25, device="meta"))
    # convolutions scale with width^2; 0.70 M as stated in MEASUREMENTS.md
    assert 0.06 < quarter / full < 0.065
    assert round(quarter / 1e6, 2) == 0.70


def test_unknown_architecture_is_a_clear_error():
    with pytest.raises(ValueError, match=r"unknown architecture 'resnet19'.*resnet18"):
        build("resnet19", 10)


@pytest.mark.parametrize("kwargs, match", [
    (dict(num_classes=1), "num_classes"),
    (dict(num_classes=10, width=0), "width"),
    (dict(num_classes=10, in_channels=0), "in_channels"),
    (dict(num_classes=10, mean=(0.5,), std=(0.5,)), "mean/std"),
    (dict(num_classes=10, no_such_option=3), "rejected options"),
])
def test_bad_arguments_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build("cw_cifar", **kwargs)


def test_wrn_depth_and_widen_options():
    m = build("wrn", 10, depth=16, widen_factor=4, device="meta")
    # WRN-16-4: 2.7 M in Zagoruyko & Komodakis Table 1 (2,748,890 counted for 10 classes)
    assert abs(count_parameters(m) - 2.75e6) < 0.01 * 2.75e6
    with pytest.raises(ValueError, match="6n\\+4"):
        build("wrn", 10, depth=27)


def test_normalization_inside_forward():
    model = build("cw_cifar", 10, width=0.25).eval()
    buffers = dict(model.named_buffers())
    assert torch.allclose(buffers["normalize.mean"].flatten(), torch.tensor(CIFAR10_MEAN))
    assert torch.allclose(buffers["normalize.std"].flatten(), torch.tensor(CIFAR10_STD))
    assert "normalize.mean" in model.state_dict()
    x = torch.rand(3, 3, 32, 32)
    mean = torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR10_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        assert torch.allclose(model(x), model.net((x - mean) / std), atol=1e-6)
    mnist = build("lenet5", 10, 1)
    assert mnist.normalize.mean_values == (0.1307,) and mnist.normalize.std_values == (0.3081,)
    rse = build("rse_vgg16", 10, width=0.125)
    assert rse.normalize.mean_values == (0.0, 0.0, 0.0) and rse.normalize.std_values == (1.0, 1.0, 1.0)
    custom = build("cw_cifar", 10, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    assert custom.normalize.std.flatten().tolist() == [0.25, 0.25, 0.25]


def test_initialization_seeded_and_global_rng_untouched():
    state = torch.get_rng_state()
    a = build("resnet18", 10, width=0.125, seed=3)
    b = build("resnet18", 10, width=0.125, seed=3)
    c = build("resnet18", 10, width=0.125, seed=4)
    assert torch.equal(torch.get_rng_state(), state)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa["net.conv1.weight"], sc["net.conv1.weight"])
    # PyTorch's default conv init: kaiming_uniform(a=sqrt(5)) => U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    w = sa["net.conv1.weight"]
    bound = 1 / (3 * 9) ** 0.5
    assert w.abs().max() <= bound and w.abs().max() > 0.9 * bound
    assert torch.equal(sa["net.bn1.running_var"], torch.ones_like(sa["net.bn1.running_var"]))


def test_rse_noise_layer_before_every_convolution():
    for arch, c, first, inner in [("rse_vgg16", 3, 0.2, 0.1), ("rse_resnext", 3, 0.1, 0.1),
                                  ("stl10_model_a", 3, 0.2, 0.1)]:
        m = build(arch, 10, c, width=0.125)
        n_conv = sum(isinstance(x, nn.Conv2d) for x in m.modules())
        layers = list(noise_layers(m))
        assert len(layers) == n_conv, arch
        assert layers[0].sigma == first and all(l.sigma == inner for l in layers[1:])
    m = build("rse_vgg16", 10, width=0.125, noise_init=0.3, noise_inner=0.05)
    sig = [l.sigma for l in noise_layers(m)]
    assert sig[0] == 0.3 and set(sig[1:]) == {0.05} and len(sig) == 13  # VGG16: 13 convolutions


def test_rse_noise_from_explicit_generator():
    m = build("rse_vgg16", 10, width=0.125).eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        o1, o2 = m(x), m(x)
        assert not torch.allclose(o1, o2)  # fresh noise at every forward, also in eval mode
        attach_noise_generator(m, make_generator(0, "t"))
        r1 = m(x)
        attach_noise_generator(m, make_generator(0, "t"))
        r2 = m(x)
        assert torch.equal(r1, r2)
        set_noise_enabled(m, False)
        assert torch.equal(m(x), m(x))
        quiet = build("rse_vgg16", 10, width=0.125, noise_init=0.0, noise_inner=0.0).eval()
        assert torch.equal(quiet(x), m(x))  # same init seed, noise off == zero sigma


def test_gaussian_noise_statistics():
    layer = GaussianNoise(0.5)
    layer.generator = make_generator(1, "noise")
    out = layer(torch.zeros(200_000))
    assert abs(out.mean().item()) < 0.005 and abs(out.std().item() - 0.5) < 0.005
    with pytest.raises(ValueError, match="sigma"):
        GaussianNoise(-1.0)


def test_torch_free_name_list_matches_the_registry():
    """params validation checks names against paperlib.config.architectures (no torch import)."""
    from paperlib.models import ARCHITECTURES
    from paperlib.config.architectures import ARCHITECTURE_NAMES

    assert tuple(sorted(ARCHITECTURE_NAMES)) == ARCHITECTURES


def test_params_validation_does_not_import_torch(repo):
    """A notebook stage validates params.yaml in the runner process before its kernel starts;
    importing torch there cost 3-4 s per stage (benchmarks/stage_overhead.py)."""
    import subprocess
    import sys

    code = ("import sys; from paperlib.config import load_params; load_params('params.yaml'); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr
