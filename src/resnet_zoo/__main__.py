"""``python -m resnet_zoo COMMAND ...``, the ``resnet-zoo`` command line; how ``torchrun`` starts one (``torchrun
--nproc-per-node 8 -m resnet_zoo train ...``)."""
import sys

from .commands.cli import main

if __name__ == "__main__":
    sys.exit(main())
