"""protocol/messages/wire.py: the reader and writer made from a message's fields.

The messages of the API use most of it (their own tests show that); these small messages
show each rule alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, NamedTuple

import pytest

from protocol.errors import BadRequest, ProtocolError
from protocol.messages.wire import Wire, answer, batch_results, request, wire_error


@answer("point")
@dataclass(frozen=True, slots=True)
class Point:
    x: int
    y: float
    label: str | None = None


@answer("shape")
@dataclass(frozen=True, slots=True)
class Shape:
    kind: Literal["circle", "polygon"]
    points: list[Point]
    tags: Annotated[list[str], Wire(item_error="tags must be words")]
    radius: Annotated[float | None, Wire(when=("kind", "circle"), required=True)] = None
    note: Annotated[str | None, Wire(omit=True, read=str.upper)] = None
    colour: Annotated[str, Wire(null="")] = ""
    filled: Annotated[bool, Wire(optional=True)] = False
    depth: int = field(default=0, kw_only=True)


def test_a_message_reads_what_it_writes():
    shape = Shape("circle", [Point(1, 2.5, "a")], ["x"], 3.0, "NOTE", "red", True, depth=2)
    wire = shape.to_wire()
    assert wire == {
        "kind": "circle", "points": [{"x": 1, "y": 2.5, "label": "a"}], "tags": ["x"], "radius": 3.0,
        "note": "NOTE", "colour": "red", "filled": True, "depth": 2,
    }  # fmt: skip
    assert Shape.from_wire(wire) == shape


def test_a_variant_field_is_neither_read_nor_written_for_the_other_kinds():
    poly = Shape.from_wire({"kind": "polygon", "points": [], "tags": [], "radius": "junk", "colour": None})
    assert poly.radius is None and "radius" not in poly.to_wire()
    with pytest.raises(ProtocolError, match="shape: field 'radius' is missing or has the wrong type"):
        Shape.from_wire({"kind": "circle", "points": [], "tags": []})


def test_omitted_null_and_optional_fields():
    shape = Shape.from_wire({"kind": "polygon", "points": [], "tags": [], "note": "quiet", "filled": None})
    assert (shape.note, shape.colour, shape.filled, shape.depth) == ("QUIET", "", False, 0)
    wire = Shape("polygon", [], []).to_wire()
    assert "note" not in wire and wire["colour"] is None  # null stands for ""


def test_a_default_that_is_not_optional_may_be_absent_but_not_null():
    with pytest.raises(ProtocolError, match="shape: field 'depth'"):
        Shape.from_wire({"kind": "polygon", "points": [], "tags": [], "depth": None})


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("circle", "shape: expected an object, got str"),
        ({"kind": "square", "points": [], "tags": []}, "shape: unknown kind 'square'"),
        ({"kind": "polygon", "points": [{"x": True, "y": 1}], "tags": []}, "point: field 'x'"),
        ({"kind": "polygon", "points": [{"x": 1, "y": "1"}], "tags": []}, "point: field 'y'"),
        ({"kind": "polygon", "points": (), "tags": []}, "shape: field 'points'"),
        ({"kind": "polygon", "points": [], "tags": ["a", 1]}, "shape: tags must be words"),
    ],
)
def test_what_an_answer_refuses(value, message):
    with pytest.raises(ProtocolError, match=message):
        Shape.from_wire(value)


def test_a_number_is_read_as_a_float_and_an_int_is_never_a_bool():
    assert Point.from_wire({"x": 1, "y": 2}) == Point(1, 2.0) and isinstance(Point.from_wire({"x": 1, "y": 2}).y, float)
    with pytest.raises(ProtocolError):
        Point.from_wire({"x": 1, "y": False})


def _even(n: int) -> bool:
    return n % 2 == 0


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise BadRequest("name must be a non-empty string")
    return value.strip()


@request("order")
@dataclass(frozen=True, slots=True)
class Order:
    name: Annotated[str, Wire(parse=_name, write=str.title)]
    count: Annotated[int, Wire(error="count must be an even number", check=(_even, "count must be an even number"))]
    items: Sequence[Point]
    size: Annotated[Literal["s", "m"], Wire(omit=True, error="size must be s or m")] = "m"

    @classmethod
    def _wire_rules(cls, body: dict[str, Any], fields: dict[str, Any]) -> None:
        if fields["size"] == "s" and fields["count"] > 2:
            raise wire_error(cls, "a small order holds at most 2")


def test_a_request_reads_as_its_server_does():
    assert Order.from_wire({"name": " tea ", "count": 2, "items": []}) == Order("tea", 2, [])
    assert Order("green tea", 2, (Point(1, 1.0),)).to_wire() == {
        "name": "Green Tea", "count": 2, "items": [{"x": 1, "y": 1.0, "label": None}],
    }  # fmt: skip


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "the body must be an object"),
        ({"count": 2, "items": []}, "name must be a non-empty string"),
        ({"name": "t", "count": 3, "items": []}, "count must be an even number"),
        ({"name": "t", "count": "2", "items": []}, "count must be an even number"),
        ({"name": "t", "count": 2, "items": None}, "items is missing or has the wrong type"),
        ({"name": "t", "count": 2, "items": [], "size": "xl"}, "size must be s or m"),
        ({"name": "t", "count": 4, "items": [], "size": "s"}, "a small order holds at most 2"),
    ],
)
def test_what_a_request_refuses_is_a_bad_request_naming_the_field(body, message):
    with pytest.raises(BadRequest) as caught:
        Order.from_wire(body)
    assert caught.value.message == message


def _known(name: str) -> str:
    if name not in ("tea", "coffee"):
        raise BadRequest(f"no such drink: {name}")
    return name.upper()


@answer("drink")
@dataclass(frozen=True, slots=True)
class Drink:
    name: Annotated[str, Wire(read=_known, read_error="is not a drink")]


def test_a_read_that_refuses_says_why_in_the_answers_error():
    assert Drink.from_wire({"name": "tea"}) == Drink("TEA")
    with pytest.raises(ProtocolError) as caught:
        Drink.from_wire({"name": "gin"})
    assert caught.value.message == "drink: field 'name' is not a drink: no such drink: gin"


@answer("pair")
class Pair(NamedTuple):
    left: int
    right: Annotated[int | None, Wire(omit=True)] = None


def test_a_named_tuple_is_a_message_too():
    assert Pair.from_wire({"left": 1}) == (1, None) and Pair(1, 2).to_wire() == {"left": 1, "right": 2}


def test_the_reader_and_writer_are_made_from_the_fields_only():
    assert "def from_wire(value):" in Shape.__wire__.source and "def to_wire(self):" in Shape.__wire__.source
    with pytest.raises(TypeError, match="made from the fields"):

        @answer("hand-made")
        @dataclass(frozen=True)
        class HandMade:
            x: int

            def to_wire(self) -> dict:
                return {}

    with pytest.raises(TypeError, match="no wire type"):

        @answer("odd")
        @dataclass(frozen=True)
        class Odd:
            x: dict


def test_batch_results_are_one_object_per_item():
    assert batch_results({"results": [{}, {"error": {}}]}, "results", 2) == [{}, {"error": {}}]
    for bad in ({"results": [{}]}, {"results": [{}, 1]}, [], {"results": None}):
        with pytest.raises(ProtocolError, match="the batch answer has no 'results' list of 2 objects"):
            batch_results(bad, "results", 2)
