"""The calls form's query string: §6 names, lists repeated, typed callAnalysis values, quick ranges."""

from __future__ import annotations

from datetime import date

import pytest

from callreport.console import forms


def test_query_string_to_filter_values():
    pairs = [
        ("statuses", "answered"),
        ("statuses", "missed"),
        ("statuses", "answered"),
        ("agentIds", ""),
        ("startDate", "2025-03-01T09:30"),
        ("minDuration", "60"),
        ("maxDuration", "abc"),
        ("callAnalysis.field", "score"),
        ("callAnalysis.op", "gte"),
        ("callAnalysis.value", "95"),
        ("callAnalysis.field", ""),
        ("callAnalysis.op", "eq"),
        ("callAnalysis.value", "ignored"),
        ("cursor", "c"),
    ]
    assert forms.parse(pairs) == {
        "startDate": "2025-03-01T09:30",
        "statuses": ["answered", "missed"],
        "minDuration": 60,
        "maxDuration": "abc",  # left for the API's validation to name
        "callAnalysis": [{"field": "score", "op": "gte", "value": 95}],
    }


@pytest.mark.parametrize(
    ("op", "text", "value"),
    [
        ("eq", "negative", "negative"),
        ("eq", "5", 5),
        ("eq", '"5"', "5"),
        ("eq", "null", None),
        ("ne", "true", True),
        ("contains", "12", "12"),
        ("in", '["a", 1]', ["a", 1]),
        ("nin", "a, b", ["a", "b"]),
        ("exists", "False", False),
        ("gt", "2.5", 2.5),
    ],
)
def test_condition_values_are_typed_and_round_trip(op, text, value):
    assert forms.condition_value(op, text) == value
    assert forms.condition_value(op, forms.condition_text(op, value)) == value


def test_values_round_trip_through_the_query_string():
    values = {
        "agentIds": ["AG-1", "A&B"],
        "endDate": "2025-03-02",
        "callAnalysis": [{"field": "x", "op": "eq", "value": "7"}, {"field": "y", "op": "in", "value": [1, "z"]}],
    }
    assert forms.parse(forms.to_pairs(values)) == values


def test_quick_ranges():
    assert forms.quick_ranges("UTC", date(2025, 3, 5)) == [
        ("Today", "2025-03-05", "2025-03-05"),
        ("Yesterday", "2025-03-04", "2025-03-04"),
        ("Last 7 days", "2025-02-27", "2025-03-05"),
        ("This month", "2025-03-01", "2025-03-05"),
    ]
