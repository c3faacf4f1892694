"""A realistic demo: four audiences, six campaigns, a few hundred items, and
simulated annotators whose answers go through the real assignment engine.

The simulated audiences lean different ways on purpose (the public audience
likes concise answers, the nurses' group warm ones), so that coverage gaps and
disagreement between audiences are visible in the dashboard and in releases.

Modules: ``load`` (``demo_load``, what ``manage.py demo`` runs), ``content`` (fixed
inputs and texts), ``accounts``, ``audiences``, ``campaigns`` (the rating one in ``rating``),
``simulation``.
"""

from collection.demo.accounts import DemoLogin
from collection.demo.content import (
    AGE_BANDS,
    ASKS,
    CORES,
    DEMO_API_KEY,
    DEMO_PASSWORD,
    GENDERS,
    PUBLIC_SAMPLE,
    PUBLIC_TARGETS,
    QA_QUESTIONS,
    SEED,
    STYLES,
    TASTES,
    TOPICS,
    WARD_SITUATIONS,
)
from collection.demo.load import demo_load

__all__ = [
    "AGE_BANDS",
    "ASKS",
    "CORES",
    "DEMO_API_KEY",
    "DEMO_PASSWORD",
    "GENDERS",
    "PUBLIC_SAMPLE",
    "PUBLIC_TARGETS",
    "QA_QUESTIONS",
    "SEED",
    "STYLES",
    "TASTES",
    "TOPICS",
    "WARD_SITUATIONS",
    "DemoLogin",
    "demo_load",
]
