"""Where ``test_cpu_speed.py`` and ``test_train_speed.py`` import the reference from until they import
``reference_resnet.CifarResNet`` (``tests/reference_resnet.py``, the single reference implementation) themselves.
"""
from reference_resnet import CifarResNet as PlainCifarResNet

__all__ = ["PlainCifarResNet"]
