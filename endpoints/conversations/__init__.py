"""Live conversations with models (issue #12): the runtime above collection's data.

`pairing` (pure: arena pairs, a turn's endpoints, the shown order), `runtime` (calling
two to four endpoints at once and streaming what they send; the campaign's calls in
flight), `selectors`, `services` (settings, starting, asking for a turn), `forms`,
`views` and `urls` (the annotator's chat, their conversations, the researcher's page).
The data and the writes that touch the engine are collection's
(`collection/models/conversations.py`, `collection/conversations.py`).
"""
