"""Objects whose plain fields are read from their row when asked for (issue 23).

A type's ``from_row`` copied every plain field of its row into a new strawberry object
(``cls(id=to_global_id(...), row=row, text=row.text, ...)``), whatever the document asked: a
list of 100 conversations built 300 such objects of 8 to 11 fields to show 3 or 4 of each,
about a seventh of its time. :func:`from_row` makes the type's ``from_row`` keep the row
alone; each plain field (a field without resolver) is the row's attribute of the same name,
or what ``computed`` says (a contact's ``name``), and ``id`` the type's global id of
``row.id``:

- a selection plan (``graph.schema.plan``) and graphql-core's plain leaves
  (``graph.schema.direct``) read it from the row (:data:`SOURCE_READS`, one C-level
  ``attrgetter("row.<name>")`` for an attribute);
- anything else reading the object's attribute (graphql-core's default resolver with plans
  off, a resolver's ``self.<name>``) gets it through the class's descriptor, from the row as
  well: every way of reading a field reads the row.

The values are the ones the eager ``from_row`` copied (``tests/speed/test_rows.py`` works
each out from its row): a mutation changes a row it read itself and builds the object after
saving it, and nothing changes a row of the request's loaders, so reading a field later than
``from_row`` did reads the same value. The type's constructor is refused: an object holds
nothing but its row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import MISSING
from operator import attrgetter
from typing import Any, TypeVar

from graph.relay import to_global_id

T = TypeVar("T")

COMPUTED = "__row_computed__"
"""The attribute of a :func:`from_row` type holding the Python names of its ``computed``
fields (not its row's attribute of their name)."""

SOURCE_READS = "__source_reads__"
"""The attribute of a :func:`from_row` type holding ``{python name: read(object)}`` for its
plain fields, read from the object's row (:mod:`graph.schema.direct` takes them as the fields'
plain-leaf reads)."""


def _global_id(type_name: str) -> tuple[Callable[[Any], str], Callable[[Any], str]]:
    """Reads of the global id: from a row, and from an object through its row."""

    def read(row: Any) -> str:
        return to_global_id(type_name, row.id)

    def read_source(source: Any) -> str:
        return to_global_id(type_name, source.row.id)

    return read, read_source


def _through_row(read: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def read_source(source: Any) -> Any:
        return read(source.row)

    return read_source


class _ReadFromRow:
    """A plain field, read from the object's row at each read (a data descriptor: the object
    holds no value of its own that a plan's read from the row would not see)."""

    __slots__ = ("name", "read")

    def __init__(self, name: str, read: Callable[[Any], Any]) -> None:
        self.name = name
        self.read = read

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        return self.read(instance.row)

    def __set__(self, instance: Any, value: Any) -> None:
        raise AttributeError(f"{type(instance).__name__}.{self.name} is read from its row")


def _refuse_init(self: Any, *args: Any, **kwargs: Any) -> None:
    raise TypeError(
        f"{type(self).__name__} is built from its row: {type(self).__name__}.from_row(row)"
    )


def from_row(**computed: Callable[[Any], Any]) -> Callable[[type[T]], type[T]]:
    """Class decorator, above ``@strawberry.type``: give the type ``from_row(row)`` (a
    classmethod keeping the row alone, ``row`` its ``strawberry.Private`` field) and read its
    plain fields from the row when asked for (see the module docstring).

    ``computed``: ``{python name: function(row)}`` for a plain field that is not the row's
    attribute of its name (``id`` is ``to_global_id(<GraphQL type name>, row.id)`` unless
    given).

    The type's constructor is refused (``TypeError``) and its plain fields cannot be set
    (``AttributeError``): an object's fields are its row's, however they are read.

    Raises:
        TypeError: a name of ``computed`` that is not a plain field of the type; a plain field
            with a default.
    """

    def decorate(cls: type[T]) -> type[T]:
        definition = cls.__strawberry_definition__  # type: ignore[attr-defined]
        reads: dict[str, Callable[[Any], Any]] = {}
        source_reads: dict[str, Callable[[Any], Any]] = {}
        for field in definition.fields:
            name = field.python_name
            if field.base_resolver is not None or name == "row":
                continue
            if field.default is not MISSING or field.default_factory is not MISSING:
                raise TypeError(f"{cls.__name__}.{name}: a default is never read (from its row)")
            if name in computed:
                reads[name] = computed[name]
                source_reads[name] = _through_row(computed[name])
            elif name == "id":
                reads[name], source_reads[name] = _global_id(definition.name)
            else:  # the row's attribute: one C-level read
                reads[name], source_reads[name] = attrgetter(name), attrgetter(f"row.{name}")
        unknown = set(computed) - set(reads)
        if unknown:
            raise TypeError(f"{cls.__name__}: no plain field {sorted(unknown)}")
        new = object.__new__

        def build(klass: type[T], row: Any) -> T:
            instance = new(klass)
            instance.__dict__["row"] = row
            return instance

        cls.from_row = classmethod(build)  # type: ignore[attr-defined]
        cls.__init__ = _refuse_init  # type: ignore[misc]
        for name, read in reads.items():
            setattr(cls, name, _ReadFromRow(name, read))
        setattr(cls, SOURCE_READS, source_reads)
        setattr(cls, COMPUTED, frozenset(computed))
        return cls

    return decorate


__all__ = ["COMPUTED", "SOURCE_READS", "from_row"]
