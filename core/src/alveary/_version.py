"""The version of the ``alveary`` distribution, read by its build: importing this costs nothing,
unlike asking ``importlib.metadata``."""

__version__ = "0.1.0"
