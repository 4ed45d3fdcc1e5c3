"""Accept and Content-Type as GraphQL over HTTP reads them."""

from __future__ import annotations

import pytest

from cidadao_gql.web.media import GRAPHQL_RESPONSE, JSON, answer_type, is_json_body


@pytest.mark.parametrize(
    ("accept", "answer"),
    [
        (None, JSON),
        ("", JSON),
        ("*/*", JSON),  # older clients, curl: the legacy type
        ("application/*", JSON),
        ("application/json", JSON),
        ("APPLICATION/JSON", JSON),
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}; charset=utf-8", GRAPHQL_RESPONSE),
        (f"{JSON}, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE),  # a tie: the newer one
        (f"{GRAPHQL_RESPONSE}, */*", GRAPHQL_RESPONSE),
        (f"{JSON}, */*", JSON),
        (f"{JSON};q=0.9, {GRAPHQL_RESPONSE};q=0.8", JSON),
        (f"{GRAPHQL_RESPONSE};Q=0.2, {JSON};q=0.1", GRAPHQL_RESPONSE),
        (f"*/*;q=0.1, {JSON};q=0", GRAPHQL_RESPONSE),  # json refused by name
        (f"{JSON};q=0", None),
        (f"{JSON};q=abc", None),  # a weight that does not parse drops its range
        (f"{JSON};q=2", None),
        ("text/html", None),
        ("foo, a/b/c, ;;;,,,q=", None),
        (f"foo, {JSON}", JSON),
    ],
)
def test_the_answer_type_follows_the_accept_header(accept: str | None, answer: str | None) -> None:
    assert answer_type(accept) == answer


@pytest.mark.parametrize(
    ("content_type", "json"),
    [
        ("application/json", True),
        ("APPLICATION/JSON", True),
        ("application/json; charset=UTF-8", True),
        ('application/json;charset="utf-8"', True),
        ("application/json; charset=latin-1", False),
        ("application/jsonx", False),
        ("application/graphql", False),
        ("text/plain", False),
        ("", False),
        (None, False),
    ],
)
def test_post_bodies_are_json_in_utf8(content_type: str | None, json: bool) -> None:
    assert is_json_body(content_type) is json
