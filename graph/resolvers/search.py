"""Search (issue 21, item 1; ``domain.md`` section 1 lists search among the paths of the
visibility policy): contacts by name, e-mail or phone number, messages by their text.

A query is read once (:func:`parse_query`) into either *words* (each matched as the prefix
of a word, all of them required, case and accents ignored: "elo dup" finds "Élodie Dupont")
or a *phone number* (a query of digits and phone punctuation only: any fragment of three
digits or more, in any format; a whole valid number in international form is normalised to
E.164 first, as ``db.normalize.normalise_phone`` does, and a national one loses its leading
zeros, its trunk prefix).

The indexes are those of ``db/migrations/0012_search.py`` (SQLite FTS5, PostgreSQL
``tsvector`` and ``pg_trgm``), kept by the database in the transaction of every write. The
rows searched are those of the viewer's visibility, and nothing else:
:func:`graph.permissions.visibility.contact_scope` filters contacts, and messages by their
conversation's contact. A viewer who reads phone numbers masked
(:func:`graph.permissions.fields.sees_unmasked_numbers`) finds a contact by a whole number
only: fragments would reveal the masked digits one guess at a time.

Order: contacts by relevance in two tiers, those whose name holds every word first, then those
found through their e-mail (by id within a tier: each tier is read by keyset, never sorted
whole), messages newest first. Highlights are computed here for the rows of a page only, the
same on both databases (:func:`highlight_words`, :func:`highlight_digits`).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tortoise.expressions import RawSQL

from db.models import Contact, Message
from db.normalize import normalise_phone
from db.queries import model_rows
from graph.errors import BadUserInput
from graph.permissions.fields import mask_phone, sees_unmasked_numbers
from graph.permissions.visibility import contact_scope
from graph.relay import Page, PageRequest
from graph.resolvers.contact import display_name

if TYPE_CHECKING:
    from graph.loaders import Loaders
    from graph.permissions.visibility import Viewer

MAX_QUERY_LENGTH = 200
"""The longest query, in characters."""
MAX_WORDS = 8
"""The most words a query may hold."""
MIN_PHONE_DIGITS = 3
"""The fewest digits a phone-number query may hold (the trigram index needs three)."""
SNIPPET_LENGTH = 160
"""About how many characters of a message's text its highlight shows around the first match."""

CONTACT_ORDER = (("search_tier", False), ("id", False))
"""Contacts: those whose name matches every word first, then those matched through their
e-mail too (``search_tier`` 0, then 1), by id within each."""
CONTACT_SHAPE = (int, int)
MESSAGE_ORDER = (("id", True),)
"""Messages: newest first."""
MESSAGE_SHAPE = (int,)

_PHONE_QUERY = re.compile(r"[\d\s()+\-./]+")
_WORD = re.compile(r"[^\W_]+")
_FOLDED = str.maketrans({"ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ı": "i"})


@functools.lru_cache(maxsize=65536)
def fold(text: str) -> str:
    """``text`` lower-cased and without accents, as the indexes store words ("Élodie" gives
    "elodie", "Straße" gives "strasse", "Œuvre" gives "oeuvre"); a word's fold is cached,
    highlighting a page folds the same words again and again."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_FOLDED))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return plain.replace("œ", "oe").replace("æ", "ae")


def folded_words(text: str) -> list[str]:
    """The words of ``text`` (letters and digits), folded (:func:`fold`), in order. Folding
    can make a word more than letters and digits ("⑴" gives "(1)", "ͺ" a space): the folded
    word's own words are taken, the way the indexes split what they store (a database's query
    syntax gets letters and digits only)."""
    return [part for word in _WORD.findall(text) for part in _WORD.findall(fold(word))]


@dataclass(frozen=True)
class SearchQuery:
    """A query as the indexes read it.

    Attributes:
        words: folded words (:func:`fold`), each matched as a prefix; empty for a phone query.
        digits: a phone query's digits (E.164 without ``+`` for a whole valid number, else
            the digits without leading zeros); ``None`` for a words query.
        e164: a phone query that is a whole valid international number, in E.164; else
            ``None``.
    """

    words: tuple[str, ...] = ()
    digits: str | None = None
    e164: str | None = None


def parse_query(text: str) -> SearchQuery:
    """Read a search query (see the module's docstring).

    Raises:
        BadUserInput: (``field``: ``query``) longer than :data:`MAX_QUERY_LENGTH`, without a
            letter or digit, with more than :data:`MAX_WORDS` words, or a phone number of
            fewer than :data:`MIN_PHONE_DIGITS` digits.
    """
    text = (text or "").strip()
    if len(text) > MAX_QUERY_LENGTH:
        raise BadUserInput(f"`query` must be at most {MAX_QUERY_LENGTH} characters.", field="query")
    if text and _PHONE_QUERY.fullmatch(text) and any(c.isdigit() for c in text):
        e164 = None
        try:
            e164, _ = normalise_phone(text) if text.startswith("+") else (None, None)
        except ValueError:
            e164 = None
        digits = e164[1:] if e164 else "".join(c for c in text if c.isdigit()).lstrip("0")
        if len(digits) < MIN_PHONE_DIGITS:
            raise BadUserInput(
                f"A phone number to search for needs at least {MIN_PHONE_DIGITS} digits "
                "(leading zeros aside).",
                field="query",
            )
        return SearchQuery(digits=digits, e164=e164)
    words = tuple(dict.fromkeys(folded_words(text)))
    if not words:
        raise BadUserInput("`query` must contain a letter or a digit.", field="query")
    if len(words) > MAX_WORDS:
        raise BadUserInput(f"`query` may hold at most {MAX_WORDS} words.", field="query")
    return SearchQuery(words=words)


def _postgres(model: type) -> bool:
    return model._meta.db.capabilities.dialect == "postgres"


def _fts5(words: tuple[str, ...]) -> str:
    """An FTS5 query requiring every word as a prefix; words are letters and digits only, so
    they are written into the statement as literals."""
    return " AND ".join(f'"{w}"*' for w in words)


def _tsquery(words: tuple[str, ...], weight: str = "") -> str:
    """A PostgreSQL ``to_tsquery('simple', …)`` requiring every word as a prefix (of a word of
    ``weight`` when given: ``A`` is a contact's name)."""
    return "to_tsquery('simple', '" + " & ".join(f"{w}:*{weight}" for w in words) + "')"


@dataclass(frozen=True)
class Highlight:
    """Where a result matched: ``field`` (``NAME``, ``EMAIL``, ``PHONE``, ``MESSAGE_TEXT``),
    the text shown (a message's: a snippet around its first match) and the matches in it,
    ``(start, length)`` in UTF-16 code units, as JavaScript indexes strings."""

    field: str
    text: str
    matches: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class ContactHit:
    contact: Contact
    highlights: tuple[Highlight, ...]


@dataclass(frozen=True)
class MessageHit:
    message: Message
    highlights: tuple[Highlight, ...]


def _utf16(text: str, index: int) -> int:
    return len(text[:index].encode("utf-16-le")) // 2


def _ranges(text: str, spans: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    return tuple((_utf16(text, s), _utf16(text, e) - _utf16(text, s)) for s, e in spans)


def _word_spans(text: str, words: tuple[str, ...]) -> list[tuple[int, int]]:
    return [
        m.span()
        for m in _WORD.finditer(text)
        if any(part.startswith(w) for part in folded_words(m.group()) for w in words)
    ]


def highlight_words(field: str, text: str | None, words: tuple[str, ...]) -> Highlight | None:
    """The whole words of ``text`` that start with one of ``words`` (folded), or ``None``
    when none does. A message's text is cut to about :data:`SNIPPET_LENGTH` characters around
    its first match, with ``…`` where it was cut."""
    if not text:
        return None
    spans = _word_spans(text, words)
    if not spans:
        return None
    if field == "MESSAGE_TEXT" and len(text) > SNIPPET_LENGTH:
        start = max(0, spans[0][0] - SNIPPET_LENGTH // 4)
        end = min(len(text), start + SNIPPET_LENGTH)
        prefix = "…" if start else ""
        snippet = prefix + text[start:end] + ("…" if end < len(text) else "")
        shift = len(prefix) - start
        spans = [(s + shift, min(e, end) + shift) for s, e in spans if s < end]
        text = snippet
    return Highlight(field, text, _ranges(text, spans))


def highlight_digits(shown: str, digits: str, masked: bool) -> Highlight:
    """A phone number as the viewer reads it, with the digits of ``digits`` marked (nothing
    marked when it is masked)."""
    if masked:
        return Highlight("PHONE", shown, ())
    positions = [i for i, c in enumerate(shown) if c.isdigit()]
    found = "".join(shown[i] for i in positions).find(digits)
    if found < 0:
        return Highlight("PHONE", shown, ())
    start, end = positions[found], positions[found + len(digits) - 1] + 1
    return Highlight("PHONE", shown, _ranges(shown, [(start, end)]))


async def _masked(viewer: Viewer, loaders: Loaders) -> bool:
    workspace = await loaders.workspace()
    return not sees_unmasked_numbers(viewer, workspace.phone_number_masking)


def _visible_contacts(viewer: Viewer):
    return Contact.filter(workspace_id=viewer.workspace_id).filter(contact_scope(viewer).q())


async def search_contacts(
    viewer: Viewer, loaders: Loaders, query: SearchQuery, request: PageRequest
) -> Page[ContactHit]:
    """A page of the contacts ``viewer`` may see that match ``query``, best first.

    Words match the first name, last name and e-mail; a phone query the number (a whole number
    only for a viewer who reads numbers masked). At most three statements however long the
    page: the workspace's settings (a phone query; read once per request) and one per tier
    (:func:`_read_tiers`).

    Returns:
        Hits in :data:`CONTACT_ORDER`, each with its highlights (name, e-mail, phone).
    """
    contacts = _visible_contacts(viewer)
    masked = False
    if query.digits is not None:
        masked = await _masked(viewer, loaders)
        if masked:
            found = contacts.filter(phone=query.e164 or "")
        elif _postgres(Contact):
            found = contacts.filter(phone__contains=query.digits)
        else:
            found = contacts.filter(
                id__in=_fts5_rowids("contact_phone_search", f'"{query.digits}"')
            )
        tiers = [found]
    elif _postgres(Contact):
        document = '"contact"."search_document"'
        every, name = _tsquery(query.words), _tsquery(query.words, weight="A")
        tiers = [
            contacts.annotate(search_hit=RawSQL(f"{document} @@ {name}")).filter(search_hit=True),
            contacts.annotate(
                search_hit=RawSQL(f"{document} @@ {every} AND NOT {document} @@ {name}")
            ).filter(search_hit=True),
        ]
        found = contacts.annotate(search_hit=RawSQL(f"{document} @@ {every}")).filter(
            search_hit=True
        )
    else:
        every, name = _fts5(query.words), f"name : ({_fts5(query.words)})"
        found = contacts.filter(id__in=_fts5_rowids("contact_search", every))
        tiers = [
            contacts.filter(id__in=_fts5_rowids("contact_search", name)),
            found.exclude(id__in=_fts5_rowids("contact_search", name)),
        ]
    rows = await _read_tiers(tiers, request)
    page = Page.of(rows, request, lambda r: [r.search_tier, r.id], found.count)
    hits = [ContactHit(row, _contact_highlights(row, query, masked)) for row in page.rows]
    return Page(hits, page.keys, page.has_next, page.has_previous, page.total)


async def _read_driven_by_fts5(messages: Any, request: PageRequest, match: str) -> list[Message]:
    """The page ``request`` asks for of ``messages`` (a tortoise query on ``message``) that
    match ``match`` in ``message_search``, newest first, on SQLite.

    The statement joins the FTS5 table to tortoise's query (which SQLite flattens) and orders
    by the FTS5 rowid, bounded by the cursors: FTS5 then walks the word's matches newest first
    and stops once the page is full, where a subquery (``id IN (SELECT rowid …)``) would first
    list every match of a common word (a tenth of a million messages).
    """
    messages._choose_db_if_not_chosen()
    messages._make_query()
    sql, params = messages.query.get_parameterized_sql()
    bounds = []
    if request.after is not None:
        bounds.append(f"AND message_search.rowid < {int(request.after[0])}")
    if request.before is not None:
        bounds.append(f"AND message_search.rowid > {int(request.before[0])}")
    driven = (
        f"SELECT message.* FROM message_search JOIN ({sql}) AS message "
        f"ON message.id = message_search.rowid WHERE message_search MATCH '{match}' "
        f"{' '.join(bounds)} ORDER BY message_search.rowid "
        f"{'ASC' if request.backward else 'DESC'} LIMIT {int(request.size) + 1}"
    )
    _, found = await messages._db.execute_query(driven, list(params))
    return model_rows(Message, found)


def _fts5_rowids(table: str, match: str) -> RawSQL:
    """The rowids of an FTS5 table matching ``match`` (letters, digits and FTS5 syntax of
    this module only), as a subquery for ``id__in``."""
    return RawSQL(f"(SELECT rowid FROM {table} WHERE {table} MATCH '{match}')")


async def _read_tiers(tiers: list[Any], request: PageRequest) -> list[Contact]:
    """The rows ``request`` asks for from ``tiers`` (querysets of disjoint rows, best first),
    listed tier after tier and by id within one (:data:`CONTACT_ORDER`), each row with its
    ``search_tier``; in reading order, with one row more when more follow
    (:meth:`graph.relay.PageRequest.read`).

    Each tier is read by keyset on its id index, only as far as the page needs: ranking by
    relevance never sorts every match of a common prefix (a tenth of a large workspace's
    contacts may start with "ma"). One statement per tier the cursors leave, even when an
    earlier tier fills the page (a row then, for ``hasNextPage``): the statements of a
    request never depend on the page size nor on how many rows each tier holds."""
    order = (("id", False),)
    rows: list[Contact] = []
    indices = range(len(tiers) - 1, -1, -1) if request.backward else range(len(tiers))
    for tier in indices:
        after, before = request.after, request.before
        if (after is not None and tier < after[0]) or (before is not None and tier > before[0]):
            continue
        part = PageRequest(
            size=max(0, request.size - len(rows)),
            after=(after[1],) if after is not None and after[0] == tier else None,
            before=(before[1],) if before is not None and before[0] == tier else None,
            backward=request.backward,
        )
        for row in await part.read(tiers[tier], order):
            row.search_tier = tier
            rows.append(row)
    return rows[: request.size + 1]


def _contact_highlights(row: Contact, query: SearchQuery, masked: bool) -> tuple[Highlight, ...]:
    if query.digits is not None:
        shown = mask_phone(row.phone) if masked else row.phone
        return (highlight_digits(shown or "", query.digits, masked),)
    found = [
        highlight_words("NAME", display_name(row), query.words),
        highlight_words("EMAIL", row.email, query.words),
    ]
    return tuple(h for h in found if h is not None)


async def search_messages(
    viewer: Viewer, query: SearchQuery, request: PageRequest
) -> Page[MessageHit]:
    """A page of the messages ``viewer`` may see (those of conversations whose contact is in
    their visibility) whose text holds every word of ``query``, newest first. A phone query
    searches its digits as a word. One statement however long the page.

    Returns:
        Hits in :data:`MESSAGE_ORDER`, each with its text's highlight (a snippet).
    """
    words = query.words or (query.digits or "",)
    messages = Message.filter(workspace_id=viewer.workspace_id).filter(
        contact_scope(viewer).q("conversation__contact_")
    )
    if _postgres(Message):
        messages = messages.annotate(
            search_hit=RawSQL(f'"message"."search_document" @@ {_tsquery(words)}')
        ).filter(search_hit=True)
        rows = await request.read(messages, MESSAGE_ORDER)
    else:
        rows = await _read_driven_by_fts5(messages, request, _fts5(words))
        messages = messages.filter(id__in=_fts5_rowids("message_search", _fts5(words)))
    page = Page.of(rows, request, lambda r: [r.id], messages.count)
    hits = [
        MessageHit(row, tuple(h for h in [highlight_words("MESSAGE_TEXT", row.text, words)] if h))
        for row in page.rows
    ]
    return Page(hits, page.keys, page.has_next, page.has_previous, page.total)


__all__ = [
    "CONTACT_SHAPE",
    "MAX_QUERY_LENGTH",
    "MAX_WORDS",
    "MESSAGE_SHAPE",
    "MIN_PHONE_DIGITS",
    "ContactHit",
    "Highlight",
    "MessageHit",
    "SearchQuery",
    "fold",
    "highlight_digits",
    "highlight_words",
    "parse_query",
    "search_contacts",
    "search_messages",
]
