"""Web forms for annotators.

The forms only turn HTML inputs into the JSON shapes of `collection.payloads`;
whether an answer is acceptable is decided there (through the services), so the
web form, the API and imports cannot drift apart. That is why most fields here
are ``required=False``: an empty field becomes a missing key, and the payload
validator names it in the same words everywhere.
"""

from __future__ import annotations

import json
import random
import uuid
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm
from django.forms.fields import InvalidJSONInput

from collection import kinds, payloads
from collection.models import Assignment, Audience, Campaign

LETTERS = "ABCDEFGHI"  # payloads.MAX_CANDIDATES is 9, so keys 1..9 and letters A..I suffice
CONFIDENCE_CHOICES = [
    (1, "1 – a guess"),
    (2, "2"),
    (3, "3"),
    (4, "4"),
    (5, "5 – certain"),
]


class CheckedJSONField(forms.JSONField):
    """Django's JSON form field with the payload rules (the admin's JSON boxes).

    Django's own catches only JSONDecodeError, so 10,000 levels of nesting
    (RecursionError) or a 5,000-digit number (ValueError) were server errors.
    """

    def to_python(self, value):
        if self.disabled or value in self.empty_values or not isinstance(value, str):
            return super().to_python(value)
        try:
            payloads.loads(value)
        except json.JSONDecodeError:
            pass  # Django's own parse below says so, in its words
        except payloads.PayloadError as error:
            where = f"{error.field}: " if error.field and error.field != "body" else ""
            raise forms.ValidationError(f"{where}{error.message}", code="invalid") from error
        return super().to_python(value)

    def bound_data(self, data, initial):
        # A refused box is shown again as typed; Django would parse it again to show it.
        if isinstance(data, str) and not self.disabled:
            try:
                payloads.loads(data)
            except payloads.PayloadError:
                return InvalidJSONInput(data)
            except json.JSONDecodeError:
                pass
        return super().bound_data(data, initial)


class SignupForm(UserCreationForm):
    email = forms.EmailField(
        required=True,
        help_text="Only used to contact you about your account; never exported.",
    )

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Django's default help is an HTML list; plain text keeps every template free of |safe.
        self.fields["password1"].help_text = (
            "At least 8 characters; not all digits, not a common password, "
            "and not too like your username."
        )

    def clean_email(self) -> str:
        email = self.cleaned_data["email"]
        if get_user_model().objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("An account with this e-mail exists already; log in.")
        return email


class ProfileForm(forms.Form):
    """Exactly the attributes the audience asks for, as choices from its allowed values."""

    def __init__(self, *args, audience: Audience, **kwargs):
        super().__init__(*args, **kwargs)
        for attribute in audience.attribute_schema:
            self.fields[attribute["name"]] = forms.ChoiceField(
                label=attribute["label"],
                choices=[("", "Choose…"), *((value, value) for value in attribute["choices"])],
            )

    def attributes(self) -> dict[str, str]:
        return {name: self.cleaned_data[name] for name in self.fields}


class ConsentForm(forms.Form):
    agree = forms.BooleanField(label="I have read this and I agree.")


class FlagForm(forms.Form):
    flag_reason = forms.CharField(
        label="What is wrong with this item?",
        required=False,
        strip=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2, "maxlength": 1000}),
    )


def display_order(assignment: Assignment) -> list[int]:
    """Candidate indexes in the order this assignment shows them.

    Shuffled per assignment because annotators favour whichever response comes
    first; seeded by the assignment so a reload shows the same order.
    """
    order = list(range(len(assignment.item.candidates)))
    random.Random(assignment.pk).shuffle(order)
    return order


def text_widget(rows: int, limit: int, **attrs) -> forms.Textarea:
    return forms.Textarea(attrs={"rows": rows, "maxlength": limit, **attrs})


class ResponseForm(forms.Form):
    """One answer to one leased item; its answer fields are the item kind's (`collection.kinds`)."""

    assignment = forms.IntegerField(widget=forms.HiddenInput)
    idempotency_key = forms.UUIDField(widget=forms.HiddenInput)
    time_on_task_ms = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)

    def __init__(self, *args, assignment: Assignment, **kwargs):
        kwargs.setdefault("initial", {"assignment": assignment.pk, "idempotency_key": uuid.uuid4()})
        super().__init__(*args, **kwargs)
        self.assignment = assignment
        self.problems: list[tuple[str, str]] = []
        self.campaign: Campaign = assignment.campaign
        self.item = assignment.item
        self.candidates = self.item.candidates
        self.order = display_order(assignment) if self.candidates else []
        self.kind = kinds.get(self.campaign.item_kind)
        answer_fields = self.kind.form_fields(self)
        self.fields.update(answer_fields)
        self.answer_fields = list(answer_fields)
        if self.campaign.ask_rationale:
            self.fields["rationale"] = forms.CharField(
                label="Why? (briefly)",
                required=False,
                strip=False,
                widget=text_widget(3, payloads.MAX_SHORT_CHARS),
            )
        if self.campaign.ask_confidence:
            self.fields["confidence"] = forms.ChoiceField(
                label="How confident are you?",
                choices=CONFIDENCE_CHOICES,
                required=False,
                widget=forms.RadioSelect,
            )

    # From HTML inputs to the payload shape ------------------------------------------

    def response_payload(self) -> dict[str, Any]:
        data = self.cleaned_data
        payload = self.kind.form_payload(self, data)
        if data.get("rationale"):
            payload["rationale"] = unix_newlines(data["rationale"])
        if data.get("confidence") not in (None, ""):
            payload["confidence"] = data["confidence"]
        return payload

    def time_on_task(self, now) -> int:
        """Milliseconds the annotator spent, from the page's clock or else from the lease."""
        value = self.cleaned_data.get("time_on_task_ms")
        if value is None:
            value = int((now - self.assignment.leased_at).total_seconds() * 1000)
        # A tab left open overnight is not a reason to refuse the answer.
        return max(0, min(value, 86_400_000))

    def add_service_error(self, field: str | None, message: str) -> None:
        """Attach a payload or service error to the input it concerns, and name it."""
        target = self.form_field(field)
        self.add_error(target, message)
        self.problems.append((self.label_for(field, target), message))

    def problem_list(self) -> list[tuple[str, str]]:
        """Every refusal as (what, why), for the summary at the top of the form."""
        if self.problems:
            return self.problems
        return [
            (self.label_for(name, name), message)
            for name, messages in self.errors.items()
            for message in messages
        ]

    def form_field(self, field: str | None) -> str | None:
        if not field:
            return None
        head, _, rest = field.partition(".")
        if head == "ratings" and rest:
            for index, candidate in enumerate(self.candidates):
                if candidate["id"] == rest and f"rating_{index}" in self.fields:
                    return f"rating_{index}"
        if rest and f"{head}_{rest}" in self.fields:  # scores.helpfulness -> scores_helpfulness
            return f"{head}_{rest}"
        return head if head in self.fields and head != "assignment" else None

    def label_for(self, field: str | None, target: str | None) -> str:
        if target and target != "__all__" and self.fields[target].label:
            return str(self.fields[target].label)
        if not field or field == "__all__":
            return "Form"
        head = field.partition(".")[0]
        return self.kind.field_labels.get(head) or FIELD_LABELS.get(head, field)


FIELD_LABELS = {
    "assignment": "Item",
    "idempotency_key": "Form key",
    "time_on_task_ms": "Time on task",
}


def unix_newlines(text: str) -> str:
    # Browsers send textarea line breaks as CRLF (HTML spec); that is transport, not
    # what the person typed, and it would leak into training data.
    return text.replace("\r\n", "\n")


def as_position(value: Any, size: int) -> int:
    """A submitted rank (1-based, maybe blank or junk) as a 0-based position; junk sorts last."""
    try:
        position = int(value) - 1
    except (TypeError, ValueError):
        return size
    return position if 0 <= position < size else size
