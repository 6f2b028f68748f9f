"""What the mutable record classes (plain classes with __slots__) share.

rvkvm's records are typing.NamedTuple when frozen and __slots__ classes when
mutable, not dataclasses: creating a dataclass costs ~0.5-1.7 ms of every start-up
(dataclasses._process_class), and a slotted class is also quicker to build and read.
"""
from __future__ import annotations


def slots_repr(self) -> str:
    """`Name(field=value, ...)` over the class's __slots__, as a dataclass shows itself."""
    fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in type(self).__slots__)
    return f"{type(self).__name__}({fields})"


def slots_eq(self, other) -> bool:
    """Equal when of the same class with equal fields (a dataclass's ==)."""
    if type(other) is not type(self):
        return NotImplemented
    return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)
