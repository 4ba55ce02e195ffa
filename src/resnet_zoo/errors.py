"""Errors raised for bad input: each message names the file, model or value at fault and what was expected."""


class ZooError(Exception):
    """Base class of resnet_zoo's user-facing errors; the CLI prints the message and exits 1."""


class WeightsError(ZooError, ValueError):
    """A weights file or Hub folder is missing, corrupt, or does not fit the architecture."""


class DataError(ZooError, ValueError):
    """A dataset folder is missing files or holds data of the wrong form."""
