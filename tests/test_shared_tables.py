"""The dashboard's tables are loaded once and shared by every session; a page's changes stay its own."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dashboard import data
from precompute.contract import schema
from precompute.contract.store import ArtifactDir


def test_sessions_share_one_table_and_a_page_changes_only_its_copy(artifact_root: Path) -> None:
    info = data.scan(artifact_root).models["usem3-sample"]
    on_file = ArtifactDir.open(info.path).load_table(schema.TOKENS)

    mine = data.tokens(info)
    theirs = data.tokens(info)
    assert np.shares_memory(mine["norm"].to_numpy(), theirs["norm"].to_numpy())  # no copy per caller

    mine["category"] = "CHANGED"  # what a careless page might do to its table
    mine.loc[0, "text"] = "changed"
    del mine["norm"]
    again = data.tokens(info)
    assert (again["category"] == on_file["category"]).all() and (theirs["category"] != "CHANGED").all()
    assert again.loc[0, "text"] == on_file.loc[0, "text"] != "changed"
    assert np.array_equal(again["norm"].to_numpy(), on_file["norm"].to_numpy())
    assert "shown_category" in again and len(again) == len(on_file)
