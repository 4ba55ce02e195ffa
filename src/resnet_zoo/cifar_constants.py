"""CIFAR-10's and CIFAR-100's statistics and CIFAR-10's class names: the facts of the data that the CIFAR models'
pretrained cfgs (`resnet_zoo.pretrained`) and the dataset entries (`resnet_zoo.cifar`) share.

Constants only, as ``timm.data.constants`` holds ImageNet's, so that registering the models imports nothing of
the data pipeline.
"""

IMAGE_SIZE = 32
"""Side of every CIFAR image."""

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
"""Per-channel mean of the CIFAR-10 train images, in [0, 1] units."""
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
"""Per-channel standard deviation of the CIFAR-10 train images, in [0, 1] units."""
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
"""The CIFAR-10 class names, indexed by label (as its ``batches.meta`` lists them)."""

CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
"""Per-channel mean of the CIFAR-100 train images, in [0, 1] units."""
CIFAR100_STD = (0.2673, 0.2564, 0.2762)
"""Per-channel standard deviation of the CIFAR-100 train images, in [0, 1] units."""
