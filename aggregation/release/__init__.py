"""Releases: export jobs and the versioned datasets they publish.

- `jobs`: queueing, building under an advisory lock, publishing by one rename,
  retrying; the heartbeat and the sweep that requeues a job whose worker died.
- `pipeline`: the one pass over a campaign (`release_write`, `campaign_metrics`).
- `kinds/`: one module per item kind, declaring what its releases hold (how its
  judgements are read, its datasets, card tags, metrics and plots); the pipeline asks it.
- `datasets/`: one module per derived dataset (preference pairs, vote distributions,
  KTO rows, demonstrations, question-answer pairs) and the OpenAI forms.
- `tables`: the Arrow columns every dataset shares, built per chunk of items.
- `tally`: the counts the metrics need, gathered while the files are written; the
  statistics over them are `aggregation.metrics` (`metrics.document`).
- `privacy`: pseudonyms, small-cell suppression, raking on the published values.
- `files`, `card`, `plots`: the writers, the dataset card, the plots.
"""
