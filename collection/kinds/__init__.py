"""Item kinds: each kind of item is one module here that declares what it contributes.

A kind (preference, demonstration, QA, ...) says how its items' payloads are
checked, how a response to them is checked, which fields the annotator's form
has, what the annotator sees (page template and its context, and the API's item
representation) and how a response reads back on the submissions page. The rest
of the collection app asks the registry instead of branching on the kind's name.

Adding a kind is one module that subclasses `Kind` and calls `register`, named in
`MODULES` so it loads at start-up (`CollectionConfig.ready`), its release side (one
module in `aggregation/release/kinds/`), plus its tests (docs/architecture.md, "Adding
an item kind").

This package imports nothing of the app at module level: `collection.models` and
`collection.payloads` import it (the model's choices, the validators' dispatch),
while the kind modules import them, and are loaded once the app registry is ready.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from django.utils.text import Truncator

if TYPE_CHECKING:
    from django import forms
    from rest_framework import serializers

    from collection.forms import ResponseForm
    from collection.models import Item, Response

# Loaded in this order, which is the order of the campaign form's and the API's choices.
MODULES = ("preference", "demonstration", "qa", "rating", "conversation")
MAX_NAME_CHARS = 14  # Campaign.item_kind's max_length


@dataclasses.dataclass(frozen=True)
class Rules:
    """The campaign's settings a kind's checks may depend on."""

    preference_format: str = "choice"
    rating_scale: tuple[int, int] | None = None
    # The attribute names a single-response rating scores (`payloads.rubric_or_default`).
    rubric: tuple[str, ...] = ()
    # Items may come without their candidates for now (models generate them later).
    prompts_only: bool = False


class Kind:
    """What one item kind contributes; a module subclasses this and registers one instance.

    Methods without a default must be given. Payloads come in as mappings already
    known to be JSON objects; errors are `payloads.PayloadError` naming the field.
    """

    name: ClassVar[str]
    label: ClassVar[str]
    competence: ClassVar[str]  # the campaign's default competence (a Campaign.Competence)
    # The annotate page: a template extending collection/annotate.html, whose default
    # blocks show the prompt and the kind's form fields one below the other.
    template_name: ClassVar[str] = "collection/annotate.html"
    # How to name a response field that is not a form field when an error concerns it.
    field_labels: ClassVar[Mapping[str, str]] = {}
    # The response key holding the annotator's own text, for "contains" attention checks.
    answer_text_key: ClassVar[str | None] = None
    # Whether items carry candidate responses (which generation jobs can append).
    has_candidates: ClassVar[bool] = False
    # How many generated responses an item takes when it has none (0: generation
    # jobs do not fill this kind; a rating item takes its one response).
    generated_responses: ClassVar[int] = 0
    # A kind whose annotator works on a page of its own (conversations, served by the
    # endpoints app): the URL name, given the campaign's slug, the annotate page sends to.
    annotate_url_name: ClassVar[str | None] = None
    # Whether a researcher accepts or rejects each response (demonstrations); a rejected
    # one leaves later releases.
    reviewed: ClassVar[bool] = False
    # Whether each response scores the campaign's rubric on its rating scale (single-
    # response ratings): the campaign then needs a scale, may take a rubric, and keeps
    # both once participants have rated.
    scores_rubric: ClassVar[bool] = False

    # Items ------------------------------------------------------------------------

    def validate_payload(self, payload: Mapping, rules: Rules) -> dict:
        raise NotImplementedError

    def item_prompt(self, prompt: Any, payload: dict) -> Any:
        """The prompt to check and store, given the (clean) payload; as given by default."""
        return prompt

    def validate_expected(self, expected: Mapping, payload: dict) -> dict:
        """An attention check's correct answer, checked against the item's payload; by
        default ``{"contains": "word"}``, matched in the answer text case-insensitively."""
        # Imported here: collection.payloads imports this package to dispatch to kinds.
        from collection.payloads import expected_contains

        return expected_contains(expected)

    # Responses --------------------------------------------------------------------

    def validate_response(self, payload: Mapping, item_payload: dict, rules: Rules) -> dict:
        """The kind's part of a response; rationale and confidence are checked for every kind."""
        raise NotImplementedError

    # What the annotator sees ------------------------------------------------------

    def form_fields(self, form: ResponseForm) -> dict[str, forms.Field]:
        """The form fields for an answer, in display order."""
        raise NotImplementedError

    def form_payload(self, form: ResponseForm, data: dict) -> dict:
        """The response payload (the kind's part) from the form's cleaned data."""
        raise NotImplementedError

    def annotate_context(self, form: ResponseForm) -> dict:
        """Extra template context for the annotate page."""
        return {}

    def annotator_item(self, item: Item) -> dict:
        """The kind's keys of an item as the API shows it to an annotator (never sources
        or expected answers)."""
        return {}

    def annotator_fields(self) -> dict[str, serializers.Field]:
        """The API's fields for `annotator_item`'s keys (new instances on every call; the
        item's serializer and its schema take every kind's, `required=False`)."""
        return {}

    def summary(self, response: Response) -> list[tuple[str, str]]:
        """The kind's part of a response as (label, text) pairs a person can read back."""
        raise NotImplementedError


class UnknownKind(KeyError):
    pass


K = TypeVar("K")


class Registry(Generic[K]):
    """Kinds by name, in registration order: this side's, and the release side's
    (`aggregation.release.kinds`), which keeps its own."""

    def __init__(self) -> None:
        self.by_name: dict[str, K] = {}

    def register(self, kind: K) -> K:
        name = kind.name  # type: ignore[attr-defined]
        if name in self.by_name and type(self.by_name[name]) is not type(kind):
            raise ValueError(f"Kind {name!r} is registered already.")
        self.by_name[name] = kind
        return kind

    def unregister(self, name: str) -> None:
        self.by_name.pop(name, None)

    def get(self, name: str) -> K:
        try:
            return self.by_name[name]
        except KeyError:
            raise UnknownKind(name) from None

    def find(self, name: str) -> K | None:
        """The kind named, or None (a campaign being created may name none yet)."""
        return self.by_name.get(name)

    def all(self) -> list[K]:
        return list(self.by_name.values())


_registry: Registry[Kind] = Registry()
unregister = _registry.unregister
get = _registry.get
find = _registry.find
all = _registry.all  # noqa: A001  the registry's own vocabulary: kinds.all()


def register(kind: Kind) -> Kind:
    """Add a kind; its name becomes a valid ``Campaign.item_kind``."""
    if not kind.name or len(kind.name) > MAX_NAME_CHARS:
        raise ValueError(f"A kind's name has 1 to {MAX_NAME_CHARS} characters: {kind.name!r}.")
    return _registry.register(kind)


def choices() -> list[tuple[str, str]]:
    """``Campaign.item_kind``'s choices (callable, so a new kind needs no migration)."""
    return [(kind.name, kind.label) for kind in _registry.by_name.values()]


class Names:
    """``Campaign.ItemKind``: the registered kinds' names, read from the registry when
    asked. ``ItemKind.RATING`` is ``"rating"`` once that kind is registered (for code
    that means one particular kind: its own feature, a demo, a test); ``choices`` and
    ``values`` list every registered kind, so there is no list of kinds to keep by hand."""

    def __getattr__(self, attribute: str) -> str:
        name = attribute.lower()
        if attribute.isupper() and name in _registry.by_name:
            return name
        raise AttributeError(attribute)

    @property
    def choices(self) -> list[tuple[str, str]]:
        return choices()

    @property
    def values(self) -> list[str]:
        return list(_registry.by_name)


class CompetenceByKind(Mapping[str, str]):
    """Each registered kind's default competence, read from the registry when asked."""

    def __getitem__(self, name: str) -> str:
        try:
            return _registry.by_name[name].competence
        except KeyError:
            raise UnknownKind(name) from None

    def __iter__(self):
        return iter(_registry.by_name)

    def __len__(self) -> int:
        return len(_registry.by_name)


def excerpt(text: str, length: int = 80) -> str:
    """A response's text shortened for a summary."""
    return Truncator(text).chars(length)


def load() -> None:
    for module in MODULES:
        importlib.import_module(f"{__name__}.{module}")
