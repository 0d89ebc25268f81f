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
import sys
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
    ``__init__``, a ``__post_init__``, ``__slots__``, ``InitVar``,
    keyword-only or ``init=False`` fields."""
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
    code = cls.__init__.__code__
    generated_params = code.co_varnames[1 : code.co_argcount + code.co_kwonlyargcount]
    if (
        any(not f.init or getattr(f, "kw_only", False) for f in fields)  # kw_only: 3.10+
        or list(generated_params) != [f.name for f in fields]  # an InitVar, say
        or any(f.name == "self" or f.name.startswith(_PREFIX) for f in fields)
    ):
        return cls
    helpers: dict[str, Any] = {f"{_PREFIX}FACTORY": _FACTORY}
    params_src, body = [], []
    for i, f in enumerate(fields):
        if f.default is not dataclasses.MISSING:
            helpers[f"{_PREFIX}default_{i}"] = f.default
            params_src.append(f"{f.name}={_PREFIX}default_{i}")
        elif f.default_factory is not dataclasses.MISSING:
            helpers[f"{_PREFIX}factory_{i}"] = f.default_factory
            params_src.append(f"{f.name}={_PREFIX}FACTORY")
            body.append(f"  if {f.name} is {_PREFIX}FACTORY: {f.name} = {_PREFIX}factory_{i}()")
        else:
            params_src.append(f.name)
    body.append(f"  {_PREFIX}dict = self.__dict__")
    body.extend(f"  {_PREFIX}dict[{f.name!r}] = {f.name}" for f in fields)
    # As dataclasses writes its __init__: a factory taking the helpers, run
    # with the class's module as globals (annotations resolve there).
    source = (
        f"def {_PREFIX}make({', '.join(helpers)}):\n"
        f" def __init__(self, {', '.join(params_src)}):\n" + "\n".join(body) + "\n"
        " return __init__\n"
    )
    module = sys.modules.get(cls.__module__)
    made: dict[str, Any] = {}
    exec(compile(source, FAST_INIT_FILENAME, "exec"), vars(module) if module else {}, made)
    init = made[f"{_PREFIX}make"](**helpers)
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__doc__ = cls.__init__.__doc__
    init.__annotations__ = dict(cls.__init__.__annotations__)
    cls.__init__ = init  # type: ignore[method-assign]
    return cls


_PREFIX = "__fast_init_"
"""Names of the generated code's own (no field may start with it)."""
