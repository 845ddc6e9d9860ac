"""The registry's architecture names, without importing torch.

Params validation checks every ``arch`` against this list before a stage does any work; the
registry itself (:mod:`paperlib.models`) imports torch and every family module, which would cost
a notebook stage 3-4 s in the runner process before its kernel imports torch again
(``benchmarks/stage_overhead.py``). It lives in ``paperlib.config``, not ``paperlib.models``,
because importing any submodule of a package runs the package's ``__init__`` (which builds the
registry). ``tests/test_models.py`` checks that this list and
:data:`paperlib.models.ARCHITECTURES` are the same. :data:`ARCHITECTURE_FAMILIES` and
:func:`family_of` group them into the families SEM's Algorithm 1 draws first (DenseNet, WRN,
ResNet, VGG, ...); ``tests/test_sem_distribution.py`` checks that every name has one.
"""

ARCHITECTURE_NAMES: tuple[str, ...] = (
    "alexnet", "cw_cifar", "cw_mnist", "densenet100", "densenet121", "densenet161", "densenet169",
    "googlenet", "inceptionv3", "lenet5", "mobilenetv2", "resnet18", "resnet34", "resnet50", "resnext",
    "resnext29_8x64d", "rse_resnext", "rse_vgg16", "stl10_model_a", "vgg11", "vgg13", "vgg16", "vgg19",
    "wrn", "wrn28_10",
)

# Architecture -> family, for SEM's Algorithm 1 (Qin et al. 2023), which draws K distinct
# architectures (families), then a depth variant of each, then a smoothing sigma. The families are
# the 9 bold headings of Table 1 (journal and preprint alike), which hold its 17 rows:
#   DenseNet 4 (100, 121, 161, 169) | WRN 1 | ResNet 3 (18, 34, 50) | VGG 4 (11, 13, 16, 19) |
#   AlexNet 1 | InceptionV3 1 | MobileNetV2 1 | ResNeXt 1 | GoogLeNet 1       (4+1+3+4+1+1+1+1+1 = 17)
# Each heading has its own citation (9 references, [38]-[46] in the preprint). The preprint's
# "seven available" families fits no rule we can read off the table: 9 headings; the one family
# at chance in every column (AlexNet: ACA 9.99/9.99/9.99 at sigma 0.25/0.75/1.5) leaves 8, and no
# second family is all at chance (VGG16 is 9.99 x 3, but VGG19 has 91.83/87.50/81.74). The journal
# (the project's reference) says the architecture is chosen from Table 1 and then its depth, so
# we take the 9 headings. The family count Algorithm 1 uses is counted from the collection that
# is built, never fixed here; a caller wanting another grouping (e.g. GoogLeNet with InceptionV3
# and ResNeXt with ResNet: 7 groups) sets ``Member.family`` itself. Width variants (``wrn`` /
# ``wrn28_10``, ``resnext`` / ``resnext29_8x64d``) and the RSE noisy networks belong to their base
# network's family; the networks of the other papers are families of their own.
ARCHITECTURE_FAMILIES: dict[str, str] = {
    "alexnet": "alexnet",
    "cw_cifar": "cw", "cw_mnist": "cw",
    "densenet100": "densenet", "densenet121": "densenet", "densenet161": "densenet", "densenet169": "densenet",
    "googlenet": "googlenet",
    "inceptionv3": "inceptionv3",
    "lenet5": "lenet",
    "mobilenetv2": "mobilenetv2",
    "resnet18": "resnet", "resnet34": "resnet", "resnet50": "resnet",
    "resnext": "resnext", "resnext29_8x64d": "resnext", "rse_resnext": "resnext",
    "rse_vgg16": "vgg", "vgg11": "vgg", "vgg13": "vgg", "vgg16": "vgg", "vgg19": "vgg",
    "stl10_model_a": "stl10_model_a",
    "wrn": "wrn", "wrn28_10": "wrn",
}


def family_of(arch: str) -> str:
    """The family of registry architecture ``arch`` (:data:`ARCHITECTURE_FAMILIES`), e.g.
    ``"densenet121" -> "densenet"``. ValueError names ``arch`` when it is not a registry name."""
    try:
        return ARCHITECTURE_FAMILIES[arch]
    except (KeyError, TypeError):
        raise ValueError(f"unknown architecture {arch!r}: no family for it in "
                         f"paperlib.config.architectures.ARCHITECTURE_FAMILIES") from None
