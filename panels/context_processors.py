def panel(request) -> dict:
    """The study a panel entrant came in through, so the annotator pages can offer
    "finish and return to the panel" (only their session carries it)."""
    session = getattr(request, "session", None)
    study = session.get("panel_study") if session is not None else None
    return {"panel_study": study} if study else {}
