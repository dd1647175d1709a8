"""Check a pickled payload without running it.

Unpickling runs code, so the API never does it. Instead :func:`inspect_pickle` walks the
opcodes (``pickletools.genops``) and simulates the unpickler's stack with *kinds* instead of
objects: ``tuple``, ``list``, ``dict``, ``scalar`` (numbers, strings, bytes, None, bools,
sets) or ``object`` (anything built by calling code: functions, class instances). That is
enough to refuse a stream that is truncated or has trailing bytes, a "function" that is
plainly data, and arguments that are plainly not an ``(args, kwargs)`` pair. What only
running can tell (a pickled object that turns out not callable) is left to the worker, which
ends the task FAILED with a ``TypeError``.
"""

from __future__ import annotations

import pickletools
from dataclasses import dataclass, field
from typing import cast

from faas.exceptions import PayloadError

_SCALAR_OPS = frozenset(
    {
        "INT",
        "BININT",
        "BININT1",
        "BININT2",
        "LONG",
        "LONG1",
        "LONG4",
        "STRING",
        "BINSTRING",
        "SHORT_BINSTRING",
        "BINBYTES",
        "SHORT_BINBYTES",
        "BINBYTES8",
        "BYTEARRAY8",
        "UNICODE",
        "SHORT_BINUNICODE",
        "BINUNICODE",
        "BINUNICODE8",
        "FLOAT",
        "BINFLOAT",
        "NONE",
        "NEWTRUE",
        "NEWFALSE",
        "EMPTY_SET",
    }
)
_TUPLE_N = {"EMPTY_TUPLE": 0, "TUPLE1": 1, "TUPLE2": 2, "TUPLE3": 3}
_MUTATORS = frozenset({"APPEND", "APPENDS", "SETITEM", "SETITEMS", "ADDITEMS"})
_MEMO_PUT = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})
_MEMO_GET = frozenset({"GET", "BINGET", "LONG_BINGET"})


@dataclass
class Item:
    """The kind of one value on the simulated stack (and its items, for tuples)."""

    kind: str
    items: list[Item] = field(default_factory=list)


_MARK = Item("mark")
_SCALAR = Item("scalar")


class _Stack:
    def __init__(self) -> None:
        self.items: list[Item] = []
        self.marks: list[int] = []
        self.memo: dict[int, Item] = {}

    def push(self, item: Item) -> None:
        if item is _MARK:
            self.marks.append(len(self.items))
        self.items.append(item)

    def pop(self, n: int = 1) -> list[Item]:
        if n > len(self.items) or (self.marks and len(self.items) - n <= self.marks[-1]):
            raise PayloadError("payload is not a valid pickle: stack underflow")
        popped = self.items[len(self.items) - n :]
        del self.items[len(self.items) - n :]
        return popped

    def pop_mark(self) -> list[Item]:
        if not self.marks:
            raise PayloadError("payload is not a valid pickle: missing MARK")
        at = self.marks.pop()
        popped = self.items[at + 1 :]
        del self.items[at:]
        return popped


def _step(stack: _Stack, name: str, arg: object, op: pickletools.OpcodeInfo) -> None:
    """Apply one opcode to the simulated stack."""
    if name in ("PROTO", "FRAME"):
        return
    if name == "MARK":
        stack.push(_MARK)
    elif name in _SCALAR_OPS:
        stack.push(_SCALAR)
    elif name in _TUPLE_N:
        stack.push(Item("tuple", stack.pop(_TUPLE_N[name])))
    elif name in ("TUPLE", "LIST", "DICT", "FROZENSET"):
        kind = {"TUPLE": "tuple", "LIST": "list", "DICT": "dict", "FROZENSET": "scalar"}[name]
        items = stack.pop_mark()
        stack.push(Item(kind, items if kind == "tuple" else []))
    elif name in ("EMPTY_LIST", "EMPTY_DICT"):
        stack.push(Item("list" if name == "EMPTY_LIST" else "dict"))
    elif name in _MUTATORS:
        if name in ("APPENDS", "SETITEMS", "ADDITEMS"):
            stack.pop_mark()
        else:
            stack.pop(1 if name == "APPEND" else 2)
        stack.push(stack.pop()[0])  # the container must exist
    elif name == "MEMOIZE" or name in _MEMO_PUT:
        top = stack.pop()[0]
        stack.push(top)
        stack.memo[len(stack.memo) if name == "MEMOIZE" else int(cast(int, arg))] = top
    elif name in _MEMO_GET:
        if arg not in stack.memo:
            raise PayloadError("payload is not a valid pickle: unknown memo reference")
        stack.push(stack.memo[arg])
    elif name == "POP":
        stack.pop()
    elif name == "POP_MARK":
        stack.pop_mark()
    elif name == "DUP":
        top = stack.pop()[0]
        stack.push(top)
        stack.push(top)
    else:
        _generic(stack, op)


def _generic(stack: _Stack, op: pickletools.OpcodeInfo) -> None:
    """Any other opcode (GLOBAL, REDUCE, BUILD, NEWOBJ, ...): it yields an ``object``."""
    before = op.stack_before
    if pickletools.markobject in before:
        stack.pop_mark()
        stack.pop(before.index(pickletools.markobject))
    else:
        stack.pop(len(before))
    for _ in op.stack_after:
        stack.push(Item("object"))


def inspect_pickle(data: bytes) -> Item:
    """The kind of the value ``data`` unpickles to; :class:`PayloadError` if it is not one
    complete pickle stream."""
    stack = _Stack()
    try:
        for op, arg, pos in pickletools.genops(data):
            if op.name == "STOP":
                result = stack.pop()[0]
                if stack.items or cast(int, pos) + 1 != len(data):
                    raise PayloadError("payload is not one complete pickle stream")
                return result
            _step(stack, op.name, arg, op)
    except PayloadError:
        raise
    except Exception as e:  # genops: truncated or unknown opcode
        raise PayloadError(f"payload is not a valid pickle: {e}") from e
    raise PayloadError("payload is not a valid pickle: no STOP opcode")


def check_function(data: bytes) -> None:
    """Refuse a function payload that is plainly data rather than a callable."""
    kind = inspect_pickle(data).kind
    if kind != "object":
        raise PayloadError(f"function payload is a pickled {kind}, not a callable")


def check_arguments(data: bytes) -> None:
    """Refuse an arguments payload that is plainly not ``((args), {kwargs})``."""
    top = inspect_pickle(data)
    if top.kind == "object":
        return  # only running can tell; the worker checks again
    shape_ok = (
        top.kind == "tuple"
        and len(top.items) == 2
        and top.items[0].kind in ("tuple", "list", "object")
        and top.items[1].kind in ("dict", "object")
    )
    if not shape_ok:
        raise PayloadError("arguments payload must be a pickled ((args), {kwargs}) pair")
