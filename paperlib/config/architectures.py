"""The registry's architecture names, without importing torch.

Params validation checks every ``arch`` against this list before a stage does any work; the
registry itself (:mod:`paperlib.models`) imports torch and every family module, which would cost
a notebook stage 3-4 s in the runner process before its kernel imports torch again
(``benchmarks/stage_overhead.py``). It lives in ``paperlib.config``, not ``paperlib.models``,
because importing any submodule of a package runs the package's ``__init__`` (which builds the
registry). ``tests/test_models.py`` checks that this list and
:data:`paperlib.models.ARCHITECTURES` are the same.
"""

ARCHITECTURE_NAMES: tuple[str, ...] = (
    "alexnet", "cw_cifar", "cw_mnist", "densenet100", "densenet121", "densenet161", "densenet169",
    "googlenet", "inceptionv3", "lenet5", "mobilenetv2", "resnet18", "resnet34", "resnet50", "resnext",
    "resnext29_8x64d", "rse_resnext", "rse_vgg16", "stl10_model_a", "vgg11", "vgg13", "vgg16", "vgg19",
    "wrn", "wrn28_10",
)
