"""Records crossing the classifier-process pipe survive pickling whole."""

from __future__ import annotations

import pickle
from dataclasses import dataclass

import pytest

from tunewatch.monitoring.analysis import Analysis, Item
from tunewatch.monitoring.drift import Labels
from tunewatch.monitoring.wire import fast_pickle


def test_records_round_trip_with_every_field() -> None:
    item = Item(
        {"messages": [{"role": "user", "content": "hi"}]}, None, (b"data: x\n\n",), "legal", True
    )
    analysis = Analysis("medical", Labels("partial", True), 0.7, 0.9, "p", "r")
    for record in (item, analysis, analysis.labels):
        copy = pickle.loads(pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL))
        assert copy == record and type(copy) is type(record)


def test_a_one_field_record_is_refused() -> None:
    with pytest.raises(TypeError, match="at least two fields"):

        @fast_pickle
        @dataclass(frozen=True, slots=True)
        class One:
            x: int
