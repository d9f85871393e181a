"""Reading a ``SearchQuery`` from a request's query string (every field of the CLI's search)."""

from __future__ import annotations

from fastapi import Query

from gwen.records import Filter, SearchQuery, parse_day


def search_query(text: str | None = None, filter: list[str] = Query(default=[]),  # noqa: A002 (the CLI's name)
                 model: str | None = None, op: str | None = None, min_rating: int | None = None,
                 favorite: bool | None = None, tag: list[str] = Query(default=[]),
                 style: list[str] = Query(default=[]), since: str | None = None,
                 until: str | None = None, only_deleted: bool = False, include_deleted: bool = False,
                 sort: str = "created_at", descending: bool = True, limit: int = 50, offset: int = 0
                 ) -> SearchQuery:
    return SearchQuery(text=text, filters=tuple(Filter.parse(f) for f in filter), model=model, op=op,
                       min_rating=min_rating, favorite=favorite, tags=tuple(tag), styles=tuple(style),
                       since=parse_day(since, "since") if since else None,
                       until=parse_day(until, "until") if until else None, only_deleted=only_deleted,
                       include_deleted=include_deleted, sort=sort, descending=descending, limit=limit,
                       offset=offset)


def query_from(data: dict) -> SearchQuery:
    """A ``SearchQuery`` from a JSON body holding the query string's fields (lists: ``filter``, ``tag``, ``style``)."""
    fields = {"text": None, "filter": [], "model": None, "op": None, "min_rating": None, "favorite": None, "tag": [],
              "style": [], "since": None, "until": None, "only_deleted": False, "include_deleted": False,
              "sort": "created_at", "descending": True, "limit": 50, "offset": 0}
    unknown = set(data) - set(fields)
    if unknown:
        from gwen.errors import InvalidInput
        raise InvalidInput(f"query: unknown field(s) {sorted(unknown)}; known: {', '.join(fields)}")
    return search_query(**{**fields, **data})
