"""Declarations collected from the modules of a package: one registry per layer.

Each resource kind has one module per layer (`spec/kinds/`, `graph/kinds/`,
`cloud/aws/`, `stacks/`), which declares that layer's view of the kind as a
module-level constant. A layer's registry is every such constant found in its
package, keyed by resource kind, with each kind declared at most once.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Hashable
from typing import TypeVar

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


def collect(package: str, declared: type[T], key: Callable[[T], K]) -> dict[K, T]:
    """Every `declared` instance at the top level of `package`'s modules, by `key`.

    Raises TypeError if two different declarations share a key.
    """
    found: dict[K, T] = {}
    root = importlib.import_module(package)
    for info in sorted(pkgutil.iter_modules(root.__path__), key=lambda info: info.name):
        module = importlib.import_module(f"{package}.{info.name}")
        for value in vars(module).values():
            if isinstance(value, declared) and found.setdefault(key(value), value) is not value:
                raise TypeError(f"{package}: two declarations of {key(value)}")
    return found
