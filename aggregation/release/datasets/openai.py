"""Rows as OpenAI fine-tuning records (the ``openai`` export format): chat ``messages``
for supervised fine-tuning, ``input`` / ``preferred_output`` / ``non_preferred_output``
for preference fine-tuning, ties and multi-turn completions left out."""

from __future__ import annotations


def _messages_of(prompt) -> list[dict]:
    return list(prompt) if isinstance(prompt, list) else [{"role": "user", "content": prompt}]


def _text_of(reply) -> str:
    return reply[0]["content"] if isinstance(reply, list) else reply


def preference_record(row: dict) -> dict | None:
    if any(isinstance(row[key], list) and len(row[key]) > 1 for key in ("chosen", "rejected")):
        return None  # OpenAI's preferred_output is one assistant message, not several turns
    return {
        "input": {"messages": _messages_of(row["prompt"])},
        "preferred_output": [{"role": "assistant", "content": _text_of(row["chosen"])}],
        "non_preferred_output": [{"role": "assistant", "content": _text_of(row["rejected"])}],
    }


def demonstration_record(row: dict) -> dict:
    return {"messages": row["messages"]}


def qa_record(row: dict) -> dict:
    return {
        "messages": [
            {"role": "user", "content": row["question"]},
            {"role": "assistant", "content": row["answer"]},
        ]
    }
