"""The schema's versioning rules (``CHANGELOG.md``): breaking changes against the last released
schema (``docs/released-schema.graphql``, graphql-core's ``find_breaking_changes``) are listed
in the changelog's ``[Unreleased]`` ``### Breaking`` section, and removals were deprecated
first."""

from __future__ import annotations

import re
from pathlib import Path

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    build_schema,
    find_breaking_changes,
)

from graph import __version__

ROOT = Path(__file__).resolve().parents[2]
RELEASED = ROOT / "docs" / "released-schema.graphql"
CHANGELOG = ROOT / "CHANGELOG.md"


def _schema(path: Path) -> GraphQLSchema:
    return build_schema(path.read_text(encoding="utf-8"))


def _section(text: str, heading: str, level: int) -> str:
    """The text under ``heading`` (a Markdown heading of ``level`` #s) up to the next heading
    of that level or above; empty when there is none."""
    marks = "#" * level
    match = re.search(rf"^{re.escape(marks)} {re.escape(heading)}\s*$", text, re.MULTILINE)
    if match is None:
        return ""
    rest = text[match.end() :]
    end = re.search(rf"^#{{1,{level}}} ", rest, re.MULTILINE)
    return rest[: end.start()] if end else rest


def listed_breaking_changes(changelog: str) -> list[str]:
    """The bullets of ``## [Unreleased]`` → ``### Breaking``, one string each."""
    breaking = _section(_section(changelog, "[Unreleased]", 2), "Breaking", 3)
    bullets = re.split(r"^- ", breaking, flags=re.MULTILINE)[1:]
    return [" ".join(b.split()) for b in bullets]


def unlisted_breaking_changes(released: GraphQLSchema, current: GraphQLSchema, changelog: str):
    """graphql-core's descriptions of the breaking changes no changelog bullet holds."""
    bullets = listed_breaking_changes(changelog)
    return [
        change.description
        for change in find_breaking_changes(released, current)
        if not any(change.description in bullet for bullet in bullets)
    ]


def removed_without_deprecation(released: GraphQLSchema, current: GraphQLSchema) -> list[str]:
    """Schema coordinates of the fields, arguments, input fields and enum values of the
    released schema that are gone from the current one without having been deprecated in
    the release (a removed type's members count as removed)."""
    removed = []
    for name, old in released.type_map.items():
        if name.startswith("__"):
            continue
        new = current.type_map.get(name)
        if isinstance(old, (GraphQLObjectType, GraphQLInterfaceType, GraphQLInputObjectType)):
            new_fields = getattr(new, "fields", {}) if type(new) is type(old) else {}
            for field_name, field in old.fields.items():
                coordinate = f"{name}.{field_name}"
                if field_name not in new_fields:
                    if field.deprecation_reason is None:
                        removed.append(coordinate)
                    continue
                new_args = getattr(new_fields[field_name], "args", {})
                for arg_name, arg in getattr(field, "args", {}).items():
                    if arg_name not in new_args and arg.deprecation_reason is None:
                        removed.append(f"{coordinate}({arg_name}:)")
        elif isinstance(old, GraphQLEnumType):
            new_values = new.values if isinstance(new, GraphQLEnumType) else {}
            removed += [
                f"{name}.{value_name}"
                for value_name, value in old.values.items()
                if value_name not in new_values and value.deprecation_reason is None
            ]
    return removed


def test_every_breaking_change_is_in_the_changelog():
    from graph.schema import schema

    unlisted = unlisted_breaking_changes(
        _schema(RELEASED), schema._schema, CHANGELOG.read_text(encoding="utf-8")
    )
    assert not unlisted, (
        "breaking changes against docs/released-schema.graphql missing from CHANGELOG.md "
        "([Unreleased], ### Breaking); add these bullets:\n" + "\n".join(f"- {d}" for d in unlisted)
    )


def test_removals_were_deprecated_in_the_release():
    from graph.schema import schema

    removed = removed_without_deprecation(_schema(RELEASED), schema._schema)
    assert not removed, (
        "removed without a release in which they were @deprecated (deprecate them first, "
        "naming what replaces them): " + ", ".join(removed)
    )


def test_the_version_is_the_changelogs_latest_release():
    releases = re.findall(
        r"^## \[(\d+\.\d+\.\d+)\]", CHANGELOG.read_text(encoding="utf-8"), re.MULTILINE
    )
    assert releases, "CHANGELOG.md lists no release"
    assert releases[0] == __version__, (
        f"the package is {__version__}, the changelog's latest release {releases[0]}"
    )


RELEASE = """
type Query {
  contact(id: ID!): Contact
  calls(first: Int, after: String): [String!]!
}
type Contact {
  name: String
  fullName: String @deprecated(reason: "Use name.")
}
enum Status { OPEN CLOSED PENDING }
type Mutation { close(status: Status!): Boolean }
"""


def test_the_rules_catch_an_unlisted_change_and_an_undeprecated_removal():
    """The checks themselves, on a small schema: dropping a deprecated field is allowed once
    listed; dropping an argument and an enum value that were never deprecated is not."""
    released = build_schema(RELEASE)
    current = build_schema(
        RELEASE.replace('  fullName: String @deprecated(reason: "Use name.")\n', "")
        .replace("calls(first: Int, after: String)", "calls(first: Int)")
        .replace("OPEN CLOSED PENDING", "OPEN CLOSED")
    )
    assert removed_without_deprecation(released, current) == [
        "Query.calls(after:)",
        "Status.PENDING",
    ]
    nothing_listed = "## [Unreleased]\n\n### Breaking\n\n## [1.0.0] - 2026-12-04\n"
    unlisted = unlisted_breaking_changes(released, current, nothing_listed)
    assert sorted(unlisted) == [
        "Argument Query.calls(after:) was removed.",
        "Enum value Status.PENDING was removed.",
        "Field Contact.fullName was removed.",
    ]
    listed = nothing_listed.replace(
        "### Breaking\n",
        "### Breaking\n\n"
        + "".join(f"- {d} Use name, or the other arguments.\n" for d in unlisted),
    )
    assert unlisted_breaking_changes(released, current, listed) == []
    assert unlisted_breaking_changes(released, released, nothing_listed) == []
