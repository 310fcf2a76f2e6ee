"""One reader and one writer for every message: its fields, declared once, say what the wire holds.

A message is a frozen dataclass (or a NamedTuple) under :func:`answer` (what a server answers: a
malformed one is a :class:`~protocol.errors.ProtocolError` naming the message) or :func:`request`
(what a client sends: a malformed one is a :class:`~protocol.errors.BadRequest`, the server's
400). The decorator gives the class ``from_wire(value)`` and ``to_wire()``, built from its
fields' types:

=====================  =============================================================
``str``, ``int``,      a value of that type (an ``int`` is never a ``bool``)
``bool``
``float``              a number, int or float, read as a float
``Literal["a", "b"]``  one of these values ("unknown ..." otherwise)
``list[X]``            a list of ``X``: a scalar, or a type with ``from_wire``/``to_wire``
(``Sequence[X]``)      (read as a list)
``X | None``           ``X``, or null, or absent: the field's default (None)
=====================  =============================================================

A field with a default whose type is not optional may be absent (it then takes the default)
but not null. :class:`Wire` in ``Annotated[type, Wire(...)]`` adds what a type cannot say: a
field sent only for one kind of message (``when``), one left out at its default (``omit``),
value checks and conversions, the error message a request's client reads.

Parsing is hot (a change-feed page holds thousands of entries), so each class's fields are
compiled once, when the class is declared, into a straight-line reader and writer (as
:mod:`dataclasses` builds ``__init__``); ``Metadata.__wire__.source`` shows the code.
Rules that tie fields together go in a classmethod ``_wire_rules(cls, obj, fields)``, which
may change the read ``fields`` (a dict) before the instance is made, or raise.
"""

from __future__ import annotations

import dataclasses
import linecache
import sys
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from protocol.errors import BadRequest, ProtocolError, TesseraError

T = TypeVar("T")

#: no default (a field), no stand-in for null (:attr:`Wire.null`)
_UNSET: Any = object()
#: ``dict.get``'s answer for an absent key, where absent and null differ
_ABSENT: Any = object()


@dataclass(frozen=True, slots=True)
class Wire:
    """What the type of a message field cannot say (all optional)."""

    #: (field, value): the field is on the wire only when that earlier field has that value;
    #: otherwise it is neither read nor written and takes its default
    when: tuple[str, Any] | None = None
    #: with ``when``: the field must be there (its type is optional only for the other kinds)
    required: bool = False
    #: null or absent reads as the default, though the type is not optional
    optional: bool = False
    #: to_wire leaves the field out when it equals its default
    omit: bool = False
    #: null or absent reads as this value, and this value is written as null
    null: Any = _UNSET
    #: reads the raw value itself instead of the type check (raising its own errors)
    parse: Callable[[Any], Any] | None = None
    #: (predicate, message): after the type check, the value must satisfy the predicate
    check: tuple[Callable[[Any], bool], str] | None = None
    #: applied to the value read (after the checks)
    read: Callable[[Any], Any] | None = None
    #: a TesseraError of ``read`` becomes the message's error "field 'x' {read_error}: {its message}"
    read_error: str | None = None
    #: applied to the value written
    write: Callable[[Any], Any] | None = None
    #: the message when the value is missing or of the wrong type (or not one of a Literal's)
    error: str | None = None
    #: the message when an item of a list is of the wrong type
    item_error: str | None = None


@dataclass(frozen=True, slots=True)
class Spec:
    """A message class's compiled wire form (``cls.__wire__``)."""

    what: str
    error: type[TesseraError]
    #: prefix field messages with ``what`` (answers) or not (requests: the client reads them)
    prefixed: bool
    #: the generated source of ``from_wire`` and ``to_wire``
    source: str

    def message(self, text: str) -> str:
        return f"{self.what}: {text}" if self.prefixed else text


def wire_error(cls: type, text: str) -> TesseraError:
    """The error a message class raises for a malformed message, with ``text`` as its message."""
    spec: Spec = cls.__wire__  # type: ignore[attr-defined]
    return spec.error(spec.message(text))


def answer(what: str) -> Callable[[type[T]], type[T]]:
    """Class decorator: a message a server answers; a malformed one is a ProtocolError
    ``"{what}: ..."`` (``what`` names the message to whoever reads the error)."""
    return lambda cls: _compile(cls, what, ProtocolError, prefixed=True)


def request(what: str) -> Callable[[type[T]], type[T]]:
    """Class decorator: a message a client sends; a malformed one is a BadRequest whose message
    names the field (the 400 the server answers)."""
    return lambda cls: _compile(cls, what, BadRequest, prefixed=False)


def batch_results(body: Any, key: str, count: int) -> list[dict[str, Any]]:
    """The ``key`` list of a batch answer: ``count`` objects, one per item asked for, in order
    (each a message or ``{"error": ...}``); ProtocolError otherwise."""
    results = body.get(key) if isinstance(body, dict) else None
    if (
        not isinstance(results, list)
        or len(results) != count
        or not all(isinstance(r, dict) for r in results)
    ):
        raise ProtocolError(f"the batch answer has no {key!r} list of {count} objects")
    return results


# -- compiling -------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Field:
    #: the attribute's name, and the key on the wire
    name: str
    #: the type the wire holds: str, int, bool, float, list or a Literal
    kind: Any
    #: the type of a list's items (None: not a list)
    item: Any
    #: null or absent reads as the default
    optional: bool
    default: Any
    opts: Wire
    #: passed to the constructor by name (a dataclass's keyword-only field)
    kw_only: bool = False

    @property
    def may_be_absent(self) -> bool:
        """Absent reads as the default, but null is checked as a value (and refused)."""
        return (
            self.default is not _UNSET and not self.optional and self.opts.null is _UNSET and not self.opts.required
        )


def _fields(cls: type) -> list[_Field]:
    # the module's namespace as the globals (without it, a class's annotations are evaluated with
    # the class's own namespace as globals, and a function made in one could not see the module)
    hints = typing.get_type_hints(cls, vars(sys.modules[cls.__module__]), include_extras=True)
    if dataclasses.is_dataclass(cls):
        names = [
            (f.name, _UNSET if f.default is dataclasses.MISSING else f.default, f.kw_only is True)
            for f in dataclasses.fields(cls)
        ]
    else:  # a NamedTuple
        names = [(n, cls._field_defaults.get(n, _UNSET), False) for n in cls._fields]  # type: ignore[attr-defined]
    out = []
    for name, default, kw_only in names:
        hint, opts = hints[name], Wire()
        if typing.get_origin(hint) is typing.Annotated:
            hint, *extras = typing.get_args(hint)
            opts = next((e for e in extras if isinstance(e, Wire)), opts)
        kind, optional = _strip_none(hint)
        item = None
        if typing.get_origin(kind) in (list, Sequence):  # read as a list
            (item,) = typing.get_args(kind)
            kind = list
        if kind not in _TYPE_CHECKS and typing.get_origin(kind) is not Literal and opts.parse is None:
            raise TypeError(f"{cls.__qualname__}.{name}: no wire type for {kind!r} (give Wire(parse=...))")
        optional = (optional and not opts.required) or opts.optional
        if optional and default is _UNSET:
            default = None
        out.append(_Field(name, kind, item, optional, default, opts, kw_only))
    return out


def _strip_none(hint: Any) -> tuple[Any, bool]:
    """(the type without None, whether None was part of it)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1 and len(args) == 2:
            return rest[0], True
    return hint, False


#: the condition under which a value ``{v}`` has the wire type
_TYPE_CHECKS = {
    str: "isinstance({v}, str)",
    bool: "isinstance({v}, bool)",
    int: "isinstance({v}, int) and {v}.__class__ is not bool",
    float: "isinstance({v}, (int, float)) and {v}.__class__ is not bool",
    list: "isinstance({v}, list)",
}


class _Source:
    """The generated code of one function, and the objects it refers to by name."""

    def __init__(self, names: dict[str, Any]) -> None:
        self.lines: list[str] = []
        self.names = names

    def ref(self, name: str, value: Any) -> str:
        self.names[name] = value
        return name

    def add(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)


def _compile(cls: type[T], what: str, error: type[TesseraError], *, prefixed: bool) -> type[T]:
    if "from_wire" in vars(cls) or "to_wire" in vars(cls):
        raise TypeError(f"{cls.__qualname__}: from_wire and to_wire are made from the fields, not written")
    fields = _fields(cls)
    spec = Spec(what, error, prefixed, "")
    names: dict[str, Any] = {"_cls": cls, "_E": error, "_ABSENT": _ABSENT}
    reader = _reader(_Source(names), cls, fields, spec)
    writer = _writer(_Source(names), fields)
    source = "\n".join(reader.lines + [""] + writer.lines) + "\n"
    filename = f"<wire {cls.__module__}.{cls.__qualname__}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)  # for tracebacks
    exec(compile(source, filename, "exec"), names)
    cls.__wire__ = dataclasses.replace(spec, source=source)  # type: ignore[attr-defined]
    cls.from_wire = staticmethod(names["from_wire"])  # type: ignore[attr-defined]
    cls.to_wire = names["to_wire"]  # type: ignore[attr-defined]
    return cls


def _reader(src: _Source, cls: type, fields: list[_Field], spec: Spec) -> _Source:
    src.add(0, "def from_wire(value):")
    src.add(1, "if not isinstance(value, dict):")
    if spec.prefixed:
        src.add(2, f"raise _E({spec.what + ': expected an object, got '!r} + type(value).__name__)")
    else:
        src.add(2, "raise _E('the body must be an object')")
    src.add(1, "get = value.get")
    for group, members in _variants(fields):
        if group is None:
            for f in members:
                _read_field(src, 1, f, spec)
            continue
        src.add(1, f"if f_{group[0]} == {src.ref(f'_when_{members[0].name}', group[1])}:")
        for f in members:
            _read_field(src, 2, f, spec)
        src.add(1, "else:")
        for f in members:
            src.add(2, f"f_{f.name} = {src.ref(f'_default_{f.name}', f.default)}")
    rules = getattr(cls, "_wire_rules", None)
    if rules is None:
        args = [f"f_{f.name}" for f in fields if not f.kw_only] + [f"{f.name}=f_{f.name}" for f in fields if f.kw_only]
        src.add(1, f"return _cls({', '.join(args)})")
    else:
        src.add(1, "fields = {" + ", ".join(f"{f.name!r}: f_{f.name}" for f in fields) + "}")
        src.add(1, f"{src.ref('_rules', rules)}(value, fields)")
        src.add(1, "return _cls(**fields)")
    return src


def _variants(fields: list[_Field]) -> list[tuple[tuple[str, Any] | None, list[_Field]]]:
    """The fields in runs of the same ``when`` (the fields of one variant are declared together)."""
    runs: list[tuple[tuple[str, Any] | None, list[_Field]]] = []
    for f in fields:
        if runs and runs[-1][0] == f.opts.when:
            runs[-1][1].append(f)
        else:
            runs.append((f.opts.when, [f]))
    return runs


def _read_field(src: _Source, depth: int, f: _Field, spec: Spec) -> None:
    """The code that reads field ``f`` into ``f_<name>``, or raises."""
    o, name = f.opts, f.name
    src.add(depth, f"v = get({name!r}{', _ABSENT' if f.may_be_absent else ''})")
    inner = depth
    if o.null is not _UNSET or f.optional or f.may_be_absent:
        stand_in = o.null if o.null is not _UNSET else f.default
        src.add(depth, f"if v is {'_ABSENT' if f.may_be_absent else 'None'}:")
        src.add(depth + 1, f"v = {src.ref(f'_default_{name}', stand_in)}")
        src.add(depth, "else:")
        inner = depth + 1
    wrong = src.ref(f"_wrong_{name}", spec.message(o.error or _wrong_type(name, spec.prefixed)))
    if o.parse is not None:
        src.add(inner, f"v = {src.ref(f'_parse_{name}', o.parse)}(v)")
    elif typing.get_origin(f.kind) is Literal:
        src.add(inner, f"if v not in {src.ref(f'_choices_{name}', typing.get_args(f.kind))}:")
        if o.error is None:  # "metadata: unknown kind 'link'"
            src.add(inner + 1, f"raise _E({src.ref(f'_unknown_{name}', spec.message(f'unknown {name} '))} + repr(v))")
        else:
            src.add(inner + 1, f"raise _E({wrong})")
    else:
        src.add(inner, f"if not ({_TYPE_CHECKS[f.kind].format(v='v')}):")
        src.add(inner + 1, f"raise _E({wrong})")
    if o.check is not None:
        predicate, text = o.check
        src.add(inner, f"if not {src.ref(f'_check_{name}', predicate)}(v):")
        src.add(inner + 1, f"raise _E({src.ref(f'_check_error_{name}', spec.message(text))})")
    if f.item in _TYPE_CHECKS:
        text = spec.message(o.item_error or f"field {name!r} holds an item of the wrong type")
        src.add(inner, f"if not all({_TYPE_CHECKS[f.item].format(v='x')} for x in v):")
        src.add(inner + 1, f"raise _E({src.ref(f'_item_error_{name}', text)})")
    elif f.item is not None:  # a list of messages
        src.add(inner, f"v = [{src.ref(f'_item_{name}', f.item.from_wire)}(x) for x in v]")
    if f.kind is float and o.parse is None:
        src.add(inner, "v = float(v)")
    if o.read is not None:
        _read_value(src, inner, f, spec)
    src.add(depth, f"f_{name} = v")


def _read_value(src: _Source, depth: int, f: _Field, spec: Spec) -> None:
    read = src.ref(f"_read_{f.name}", f.opts.read)
    if f.opts.read_error is None:
        src.add(depth, f"v = {read}(v)")
        return
    src.names["_TesseraError"] = TesseraError
    prefix = src.ref(f"_read_error_{f.name}", spec.message(f"field {f.name!r} {f.opts.read_error}: "))
    src.add(depth, "try:")
    src.add(depth + 1, f"v = {read}(v)")
    src.add(depth, "except _TesseraError as e:")
    src.add(depth + 1, f"raise _E({prefix} + e.message) from None")


def _wrong_type(key: str, prefixed: bool) -> str:
    return f"field {key!r} is missing or has the wrong type" if prefixed else f"{key} is missing or has the wrong type"


def _writer(src: _Source, fields: list[_Field]) -> _Source:
    src.add(0, "def to_wire(self):")
    # the fields up to the first one that is not always written go in one dict display
    n = next((i for i, f in enumerate(fields) if f.opts.when is not None or f.opts.omit), len(fields))
    src.add(1, "out = {" + ", ".join(f"{f.name!r}: {_written(src, f)}" for f in fields[:n]) + "}")
    for group, members in _variants(fields[n:]):
        depth = 1
        if group is not None:
            src.add(1, f"if self.{group[0]} == {src.ref(f'_when_{members[0].name}', group[1])}:")
            depth = 2
        for f in members:
            if f.opts.omit:
                unchanged = "is not None" if f.default is None else f"!= {src.ref(f'_default_{f.name}', f.default)}"
                src.add(depth, f"if self.{f.name} {unchanged}:")
            src.add(depth + f.opts.omit, f"out[{f.name!r}] = {_written(src, f)}")
    src.add(1, "return out")
    return src


def _written(src: _Source, f: _Field) -> str:
    """The expression of a field's value on the wire."""
    value = f"self.{f.name}"
    if f.item is not None and f.item not in _TYPE_CHECKS:
        value = f"[x.to_wire() for x in {value}]"
    if f.opts.write is not None:
        value = f"{src.ref(f'_write_{f.name}', f.opts.write)}({value})"
    if f.opts.null is not _UNSET:  # (with neither of the above)
        value = f"(None if {value} == {src.ref(f'_null_{f.name}', f.opts.null)} else {value})"
    return value
