"""Frozen dataclasses that are quick to make.

The ``__init__`` that ``dataclasses`` writes for a frozen class sets each
field through ``object.__setattr__`` (its own ``__setattr__`` refuses), a
slot-wrapper call per field: building a PKIHeader took three times as long as
storing its twelve fields. :func:`fast_init` gives such a class an
``__init__`` with the same signature that stores the fields straight into the
instance ``__dict__``, which is what ``object.__setattr__`` ends up doing for
a plain class. Everything else of the class stays as ``dataclasses`` made it:
its fields, ``__eq__``, ``__hash__``, ``__repr__``, the frozen
``__setattr__``, ``dataclasses.replace``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

__all__ = ["FAST_INIT_FILENAME", "fast_init"]

_T = TypeVar("_T")

FAST_INIT_FILENAME = "<cmp fast init>"
"""``co_filename`` of the ``__init__`` that :func:`fast_init` writes (the
native core recognises it as one that only stores the fields)."""


class _Factory:
    """The default of a field with a ``default_factory`` (as in ``dataclasses``)."""

    def __repr__(self) -> str:
        return "<factory>"


_FACTORY = _Factory()


def fast_init(cls: type[_T]) -> type[_T]:
    """Gives the frozen dataclass ``cls`` a quicker ``__init__`` (see the module
    docstring); leaves any other class as it is: not frozen, no generated
    ``__init__``, a ``__post_init__``, ``__slots__``, keyword-only or
    ``init=False`` fields."""
    params = getattr(cls, "__dataclass_params__", None)
    if (
        params is None
        or not params.frozen
        or not params.init
        or hasattr(cls, "__post_init__")
        or "__slots__" in cls.__dict__
        or cls.__init__.__code__.co_filename != "<string>"
    ):
        return cls
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    if any(not f.init or f.kw_only for f in fields):
        return cls
    names: dict[str, Any] = {"_FACTORY": _FACTORY}
    params_src, body = [], []
    for f in fields:
        if f.default is not dataclasses.MISSING:
            names[f"_default_{f.name}"] = f.default
            params_src.append(f"{f.name}=_default_{f.name}")
        elif f.default_factory is not dataclasses.MISSING:
            names[f"_factory_{f.name}"] = f.default_factory
            params_src.append(f"{f.name}=_FACTORY")
            body.append(f" if {f.name} is _FACTORY: {f.name} = _factory_{f.name}()")
        else:
            params_src.append(f.name)
    if any(f.name in ("self", "_self_dict") for f in fields):
        return cls
    body.append(" _self_dict = self.__dict__")
    body.extend(f" _self_dict[{f.name!r}] = {f.name}" for f in fields)
    source = f"def __init__(self, {', '.join(params_src)}):\n" + "\n".join(body) + "\n"
    exec(compile(source, FAST_INIT_FILENAME, "exec"), names)
    init = names["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__doc__ = cls.__init__.__doc__
    init.__annotations__ = dict(cls.__init__.__annotations__)
    cls.__init__ = init  # type: ignore[method-assign]
    return cls
