"""The ``resnet-zoo`` command line, apart from the library it drives.

`resnet_zoo.commands.cli` parses the command line and runs one module of this package per command (``export-onnx``
is ``export_onnx``), a thin leaf over the library: ``arguments(parser)`` adds its options, ``run(args)`` does the
work and returns the exit status, and an optional ``interrupted(args)`` says what a Ctrl-C leaves behind. A
module imports the library (torch, timm) only inside ``run``, and its options show what torch-free modules hold
(`resnet_zoo.constants`, `resnet_zoo.recipe`), so that every ``resnet-zoo COMMAND --help`` answers at once.
"""
