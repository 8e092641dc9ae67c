"""Every removal method, behind one interface (``base``), registered in the benchmark's order.

``default`` and ``seed`` (the key-pixel methods, sharing ``records``), then the classical
baselines (``classical``). Importing this package registers them all; the registry's
functions are re-exported here.
"""

# isort: off
# the import order is the registration order: the benchmark's and the report's order
from svhn_erase.removal.methods.base import (Erased, RemovalMethod, Scene, create,
                                             method_class, method_names, method_tag, register,
                                             resolve, unregister)
from svhn_erase.removal.methods import default, seed, student, classical  # noqa: F401
# isort: on

__all__ = ["Erased", "RemovalMethod", "Scene", "create", "method_class", "method_names",
           "method_tag", "register", "resolve", "unregister"]
