"""cmp._frozen.fast_init: a quicker __init__ that changes nothing else of a frozen dataclass."""

from __future__ import annotations

import dataclasses
import inspect
import pickle
import sys
import typing
from dataclasses import InitVar, dataclass, field
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from cmp._frozen import FAST_INIT_FILENAME, fast_init
from cmp.asn1 import GeneralName, PKIHeader
from cmp.message import PKIMessage
from cmp.requests import EnrollRequest
from cmp.transaction import Transaction, TransactionConfig, TransactionResult


@fast_init
@dataclass(frozen=True)
class _Sample:
    a: int
    b: str = "b"
    c: list[int] = field(default_factory=lambda: [1])
    len: int = 0  # a field that shadows a builtin


@dataclass(frozen=True)
class _Reference:
    a: int
    b: str = "b"
    c: list[int] = field(default_factory=lambda: [1])
    len: int = 0


def test_fast_init_takes_the_same_arguments_as_the_generated_one() -> None:
    for args, kwargs in [((1,), {}), ((1, "x"), {}), ((1,), {"c": [2], "len": 3}), ((), {"a": 4})]:
        fast, reference = _Sample(*args, **kwargs), _Reference(*args, **kwargs)
        assert dataclasses.asdict(fast) == dataclasses.asdict(reference)
    with pytest.raises(TypeError):
        _Sample()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        _Sample(1, "x", [], 0, 5)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        _Sample(1, d=2)  # type: ignore[call-arg]


def test_a_default_factory_is_called_for_each_instance() -> None:
    first, second = _Sample(1), _Sample(1)
    assert first.c == [1] and first.c is not second.c


def test_fast_init_keeps_frozen_equality_hashing_repr_replace_and_pickling() -> None:
    value = _Sample(1, "x", [2], 3)
    assert _Sample.__init__.__code__.co_filename == FAST_INIT_FILENAME
    with pytest.raises(dataclasses.FrozenInstanceError):
        value.a = 2  # type: ignore[misc]
    assert value == _Sample(1, "x", [2], 3) and value != _Sample(2, "x", [2], 3)
    assert repr(value) == "_Sample(a=1, b='x', c=[2], len=3)"
    assert dataclasses.replace(value, a=5) == _Sample(5, "x", [2], 3)
    header = PKIHeader(2, GeneralName("directoryName", b"0\x00"), GeneralName("uri", "x"))
    assert hash(header) == hash(dataclasses.replace(header))
    assert pickle.loads(pickle.dumps(header)) == header


def test_fast_init_leaves_classes_it_cannot_speed_up_alone() -> None:
    @dataclass(frozen=True)
    class Checked:
        a: int

        def __post_init__(self) -> None:
            if self.a < 0:
                raise ValueError("negative")

    @dataclass
    class Mutable:
        a: int

    @dataclass(frozen=True)
    class WithInitVar:  # an InitVar is a parameter but no field
        a: int
        b: InitVar[str] = "x"

    # a field named like the generated code's helpers (a class body would
    # mangle the name)
    clashing = dataclasses.make_dataclass(
        "Clashing", [("__fast_init_FACTORY", int, 0)], frozen=True
    )

    classes: list[type[Any]] = [Checked, Mutable, WithInitVar, clashing]
    if sys.version_info >= (3, 10):

        @dataclass(frozen=True)
        class KeywordOnly:
            a: int = field(kw_only=True)  # type: ignore[call-overload,unused-ignore]

        @dataclass(frozen=True, slots=True)  # type: ignore[call-overload,unused-ignore]
        class Slotted:
            a: int

        classes += [KeywordOnly, Slotted]
    for cls in classes:
        init = cls.__init__
        assert fast_init(cls) is cls and cls.__init__ is init, cls
    with pytest.raises(ValueError):
        Checked(-1)
    assert WithInitVar(1, "y") == WithInitVar(1)


def test_the_quick_init_s_annotations_resolve_in_the_class_module() -> None:
    # typing.get_type_hints and inspect.signature(eval_str=True), as for the
    # dataclasses' own __init__ (documentation tools, hypothesis' builds()).
    hints = typing.get_type_hints(PKIHeader.__init__)
    assert hints["sender"] is GeneralName and len(hints) == 13
    assert typing.get_type_hints(TransactionResult.__init__)["sent"] == tuple[PKIMessage, ...]
    signature = str(inspect.signature(_Sample, eval_str=True))
    assert signature == "(a: int, b: str = 'b', c: list[int] = <factory>, len: int = 0) -> None"


def test_a_finished_transaction_result_keeps_every_field() -> None:
    # Transaction._finish spells dataclasses.replace() out field by field.
    key = ec.generate_private_key(ec.SECP256R1())
    tx = Transaction(EnrollRequest(new_key=key), TransactionConfig(secret=b"s"))
    every: dict[str, Any] = {
        f.name: object() for f in dataclasses.fields(TransactionResult)
        if f.name not in ("sent", "received")
    }  # fmt: skip
    done = tx._finish(TransactionResult(**every))
    for name, value in every.items():
        assert getattr(done.result, name) is value, name
