"""A toy item kind, "verdict", as a new kind would come: one module per side and nothing
else (`tests/aggregation/test_adding_a_kind.py` runs it from import to release).

- `collection_side`: what `collection/kinds/verdict.py` would hold;
- `release_side`: what `aggregation/release/kinds/verdict.py` would hold, with its dataset
  (which would be `aggregation/release/datasets/verdicts.py`).

Each module defines its kind; `register()` adds it, as importing the real module does.
"""
