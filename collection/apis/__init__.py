"""REST API for researchers' scripts and annotator clients: one module per resource,
one class per operation (`common.one_path` puts a list and a create on one URL)."""
