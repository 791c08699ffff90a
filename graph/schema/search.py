"""Search (issue 21, item 1): ``searchContacts`` and ``searchMessages``, Relay connections
whose edges carry highlights (:mod:`graph.resolvers.search` decides what matches and who
finds it)."""

from __future__ import annotations

import asyncio
from enum import Enum
from typing import Annotated

import strawberry
from strawberry.types import Info

from graph.relay import Page, PageRequest, encode_cursors
from graph.resolvers import search as resolvers
from graph.schema.contact import Contact
from graph.schema.conversation import Message
from graph.schema.core import (
    After,
    Before,
    Connection,
    Edge,
    First,
    Last,
    PageInfo,
    connection_field,
)


@strawberry.enum(description="Where a search result matched.")
class SearchField(Enum):
    NAME = strawberry.enum_value("NAME", description="The contact's name.")
    EMAIL = strawberry.enum_value("EMAIL", description="The contact's e-mail address.")
    PHONE = strawberry.enum_value(
        "PHONE", description="The contact's phone number, as the viewer reads it (masked or not)."
    )
    MESSAGE_TEXT = strawberry.enum_value("MESSAGE_TEXT", description="The message's text.")


@strawberry.type(description="A stretch of a highlight's text that matched the query.")
class TextRange:
    start: int = strawberry.field(
        description="Where it starts in `SearchHighlight.text`, in UTF-16 code units (as "
        "JavaScript indexes strings), from 0."
    )
    length: int = strawberry.field(description="Its length, in UTF-16 code units.")


@strawberry.type(description="Where a search result matched, and the words that did.")
class SearchHighlight:
    field: SearchField = strawberry.field(description="The field that matched.")
    text: str = strawberry.field(
        description="The field's text: whole for a name, e-mail or phone number (masked when "
        "the viewer reads numbers masked); for a message, about 160 characters around its first "
        "match, with `…` where it was cut. Plain text, not HTML."
    )
    matches: list[TextRange] = strawberry.field(
        description="The matching words (whole words that start with a word of the query) or "
        "digits, in order; empty for a masked number."
    )

    @classmethod
    def of(cls, highlight: resolvers.Highlight) -> SearchHighlight:
        return cls(
            field=SearchField(highlight.field),
            text=highlight.text,
            matches=[TextRange(start=s, length=n) for s, n in highlight.matches],
        )


SearchQueryArgument = Annotated[
    str,
    strawberry.argument(
        description="What to look for: words (each matches the start of a word, all required, "
        "case and accents ignored: `elo dup` finds `Élodie Dupont`), or a phone number in any "
        "format or a fragment of one (digits, spaces, `+()-./` only; at least 3 digits). At most "
        f"{resolvers.MAX_QUERY_LENGTH} characters and {resolvers.MAX_WORDS} words; "
        "BAD_USER_INPUT otherwise, or without a letter or digit."
    ),
]


@strawberry.type(description="A contact found by `searchContacts`, and where it matched.")
class ContactSearchEdge(Edge[Contact]):
    highlights: list[SearchHighlight] = strawberry.field(
        description="Where the contact matched: its name and/or e-mail for words, its phone "
        "number for a number."
    )


@strawberry.type(description="A page of contacts found by `searchContacts`, best match first.")
class ContactSearchConnection(Connection[Contact]):
    edges: list[ContactSearchEdge] = strawberry.field(
        description="The page's contacts with their cursors and highlights, best match first."
    )


@strawberry.type(description="A message found by `searchMessages`, and where it matched.")
class MessageSearchEdge(Edge[Message]):
    highlights: list[SearchHighlight] = strawberry.field(
        description="Where the message matched: a snippet of its text."
    )


@strawberry.type(description="A page of messages found by `searchMessages`, newest first.")
class MessageSearchConnection(Connection[Message]):
    edges: list[MessageSearchEdge] = strawberry.field(
        description="The page's messages with their cursors and highlights, newest first."
    )


def _connection(cls, edge_cls, page: Page, node, hit_row) -> object:
    cursors = encode_cursors(page.keys)
    nodes = [node(hit_row(hit)) for hit in page.rows]
    return cls(
        edges=[
            edge_cls(
                cursor=cursor,
                node=n,
                highlights=[SearchHighlight.of(h) for h in hit.highlights],
            )
            for cursor, n, hit in zip(cursors, nodes, page.rows, strict=True)
        ],
        nodes=nodes,
        page_info=PageInfo(
            has_next_page=page.has_next,
            has_previous_page=page.has_previous,
            start_cursor=cursors[0] if cursors else None,
            end_cursor=cursors[-1] if cursors else None,
        ),
        _total=page.total,
    )


@strawberry.type
class SearchQueries:
    @connection_field(
        description="Contacts the viewer may see whose name, e-mail or phone number matches "
        "`query`, best match first (those whose name holds every word, then those found "
        "through their e-mail; by id within each), with highlights. Follows the visibility policy (domain.md section 1): a contact the viewer "
        "may not see is never found, blocked contacts only with the permission to view them. "
        "A viewer who reads phone numbers masked finds a contact by its whole number only "
        "(in international form). Errors: BAD_USER_INPUT for a query or cursor it refuses."
    )
    async def search_contacts(
        self,
        info: Info,
        query: SearchQueryArgument,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> ContactSearchConnection:
        request = PageRequest.parse(first, after, last, before, resolvers.CONTACT_SHAPE)
        parsed = resolvers.parse_query(query)
        context = info.context
        page = await resolvers.search_contacts(context.viewer, context.loaders, parsed, request)
        # the page's assignees at once, as lists do (graph.loaders.Loaders.preload)
        await context.loaders.preload_users([hit.contact for hit in page.rows])
        return _connection(
            ContactSearchConnection, ContactSearchEdge, page, Contact.from_row, lambda h: h.contact
        )

    @connection_field(
        description="Messages the viewer may see (those of conversations with contacts they "
        "may see, domain.md section 1) whose text holds every word of `query`, newest first, "
        "with a highlighted snippet; `node.conversation` is the conversation found. Errors: "
        "BAD_USER_INPUT for a query or cursor it refuses."
    )
    async def search_messages(
        self,
        info: Info,
        query: SearchQueryArgument,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> MessageSearchConnection:
        request = PageRequest.parse(first, after, last, before, resolvers.MESSAGE_SHAPE)
        parsed = resolvers.parse_query(query)
        page = await resolvers.search_messages(info.context.viewer, parsed, request)
        messages = [hit.message for hit in page.rows]
        # the page's conversations and contacts at once, then every user they and the messages
        # name in one batch, as lists do (graph.loaders.Loaders.preload)
        loaders = info.context.loaders
        _, contacts = await asyncio.gather(
            loaders.conversation.load_many(sorted({m.conversation_id for m in messages})),
            loaders.contact.load_many(sorted({m.contact_id for m in messages})),
        )
        await loaders.preload_users([*messages, *(c for c in contacts if c is not None)])
        return _connection(
            MessageSearchConnection, MessageSearchEdge, page, Message.from_row, lambda h: h.message
        )


__all__ = [
    "ContactSearchConnection",
    "ContactSearchEdge",
    "MessageSearchConnection",
    "MessageSearchEdge",
    "SearchField",
    "SearchHighlight",
    "SearchQueries",
    "TextRange",
]
