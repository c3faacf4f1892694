"""Forms of the researcher workbench: they parse what a browser sends; the services
check it (the same checks, and messages, as the API)."""

from __future__ import annotations

from django import forms

from collection import kinds, payloads, services
from collection.models import AdaptiveOverlap, Audience, Campaign


class TableError(ValueError):
    def __init__(self, line: int, message: str):
        super().__init__(f"Line {line}: {message}")


def parse_schema(text: str) -> list[dict]:
    """One attribute a line: ``name: value, value, ...`` (``name (Label): ...`` too)."""
    schema = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        head, colon, rest = line.partition(":")
        if not colon:
            raise TableError(number, "Write the attribute, a colon, then its values.")
        name, _, label = head.strip().partition("(")
        attribute = {
            "name": name.strip(),
            "choices": [value.strip() for value in rest.split(",") if value.strip()],
        }
        if label.strip(" )"):
            attribute["label"] = label.strip(" )")
        schema.append(attribute)
    return schema


def format_schema(schema: list[dict]) -> str:
    lines = []
    for attribute in schema:
        default = attribute["name"].replace("_", " ").capitalize()
        label = f" ({attribute['label']})" if attribute.get("label", default) != default else ""
        lines.append(f"{attribute['name']}{label}: {', '.join(attribute['choices'])}")
    return "\n".join(lines)


def parse_rubric(text: str) -> list[dict]:
    """One attribute a line: ``name: what it means`` (``name (Label): ...`` too), checked
    as the API checks a rubric, with errors naming the line."""
    rubric, lines = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        head, _, description = line.partition(":")
        name, _, label = head.strip().partition("(")
        attribute = {"name": name.strip(), "description": description.strip()}
        if label.strip(" )"):
            attribute["label"] = label.strip(" )")
        rubric.append(attribute)
        lines.append(number)
    try:
        return payloads.validate_rubric(rubric)
    except payloads.PayloadError as error:
        parts = error.field.split(".")
        if len(parts) > 1 and parts[1].isdigit():
            raise TableError(lines[int(parts[1])], error.message) from error
        raise TableError(1, error.message) from error


def format_rubric(rubric: list[dict]) -> str:
    lines = []
    for attribute in rubric:
        default = attribute["name"].replace("_", " ").capitalize()
        label = f" ({attribute['label']})" if attribute.get("label", default) != default else ""
        description = f": {attribute['description']}" if attribute.get("description") else ""
        lines.append(f"{attribute['name']}{label}{description}")
    return "\n".join(lines)


class RubricField(forms.CharField):
    """A rubric typed one attribute a line (`parse_rubric`); shows a stored one as text."""

    def prepare_value(self, value):
        return format_rubric(value) if isinstance(value, list) else value

    def clean(self, value) -> list[dict]:
        text = super().clean(value)
        try:
            return parse_rubric(text or "")
        except TableError as error:
            raise forms.ValidationError(str(error)) from error


def _cells(line: str) -> list[str]:
    # Pasted from a spreadsheet the cells are tab-separated; typed, commas or spaces.
    for separator in ("\t", ",", ";"):
        if separator in line:
            return [cell.strip() for cell in line.split(separator)]
    return line.split()


def parse_shares(text: str) -> dict:
    """Rows of ``attribute, value, share``; a share may be written 21% or 0.21."""
    targets: dict[str, dict[str, float]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        cells = [cell for cell in _cells(line) if cell != ""]
        if len(cells) != 3:
            raise TableError(number, "Give three cells: attribute, value, share.")
        name, value, share = cells
        percent = share.endswith("%")
        try:
            number_value = float(share.rstrip("%").replace(" ", ""))
        except ValueError:
            if number == 1 and not targets:
                continue  # a header row
            raise TableError(number, f"{share!r} is not a number.") from None
        targets.setdefault(name, {})[value] = number_value / 100 if percent else number_value
    return targets


def format_shares(targets: dict) -> str:
    return "\n".join(
        f"{name}\t{value}\t{share:g}"
        for name, shares in targets.items()
        for value, share in shares.items()
    )


class AudienceForm(forms.Form):
    slug = forms.SlugField(max_length=64, help_text="In links and releases; cannot change later.")
    name = forms.CharField(max_length=200)
    kind = forms.ChoiceField(choices=Audience.Kind.choices)
    description = forms.CharField(required=False, max_length=5000, widget=forms.Textarea)
    attributes = forms.CharField(
        required=False,
        label="Attribute schema",
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        help_text="One attribute a line: name: value, value, … (e.g. age_band: 18-39, 40+).",
    )
    targets = forms.CharField(
        required=False,
        label="Target shares (public audiences)",
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false", "data-shares": ""}),
        help_text="Paste a table of attribute, value, share (tab, comma or semicolon "
        "separated; 21% or 0.21). Each attribute's shares must add up to 1.",
    )
    screened = forms.BooleanField(
        required=False, label="Screened (public audiences join by invitation)"
    )
    max_members = forms.IntegerField(
        required=False, min_value=1, label="Member limit", help_text="Needed for groups."
    )

    def clean_attributes(self) -> list[dict]:
        try:
            return parse_schema(self.cleaned_data["attributes"])
        except TableError as error:
            raise forms.ValidationError(str(error)) from error

    def clean_targets(self) -> dict:
        try:
            return parse_shares(self.cleaned_data["targets"])
        except TableError as error:
            raise forms.ValidationError(str(error)) from error


class InvitationForm(forms.Form):
    note = forms.CharField(required=False, max_length=200, help_text="Who the link is for.")
    max_uses = forms.IntegerField(min_value=1, max_value=10000, initial=1, label="Uses")
    expires_at = forms.DateTimeField(
        required=False,
        label="Expires",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )


class CampaignForm(forms.Form):
    # Step 1: what is collected.
    slug = forms.SlugField(max_length=64)
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, max_length=5000, widget=forms.Textarea)
    item_kind = forms.ChoiceField(choices=kinds.choices)
    transience = forms.ChoiceField(choices=Campaign.Transience.choices)
    preference_format = forms.ChoiceField(choices=Campaign.PreferenceFormat.choices)
    rating_min = forms.IntegerField(required=False, label="Rating scale from")
    rating_max = forms.IntegerField(required=False, label="Rating scale to")
    rating_rubric = RubricField(
        required=False,
        label="Rubric (rating campaigns)",
        max_length=20000,
        widget=forms.Textarea(attrs={"rows": 5, "spellcheck": "false"}),
        help_text="What each response is scored on, one attribute a line: name: what it "
        "means (e.g. helpfulness: how useful the response is). Every attribute uses the "
        "rating scale above. Empty: one overall score.",
    )
    ask_rationale = forms.BooleanField(required=False, label="Ask for a rationale")
    ask_confidence = forms.BooleanField(required=False, label="Ask for confidence")
    # Step 2 (after the targets): adaptive overlap (`collection.models.AdaptiveOverlap`).
    adaptive = forms.BooleanField(
        required=False,
        label="Give more judgements where audiences disagree",
        help_text="Once an item has every audience's k, it gets more, up to the maximum k, "
        "when the rule below finds the audiences diverging; none when they agree.",
    )
    adaptive_max_k = forms.IntegerField(
        required=False, min_value=2, max_value=1000, label="Maximum k per audience"
    )
    adaptive_step = forms.IntegerField(
        required=False, min_value=1, max_value=100, initial=2, label="Slots added each time"
    )
    adaptive_rule = forms.ChoiceField(
        required=False,
        choices=AdaptiveOverlap.Rule.choices,
        initial=AdaptiveOverlap.Rule.DIVERGENCE,
        label="Rule",
    )
    adaptive_jsd_threshold = forms.FloatField(
        required=False,
        min_value=0,
        max_value=1,
        initial=AdaptiveOverlap.DEFAULT_JSD_THRESHOLD,
        label="Divergence threshold (Jensen–Shannon, bits, 0–1)",
        help_text="0.2: at k = 3 only clearly opposite votes (3–0 against 1–2) get more; "
        "see the benchmark in benchmarks/README.md.",
    )
    adaptive_entropy_threshold = forms.FloatField(
        required=False,
        min_value=0,
        max_value=1,
        initial=AdaptiveOverlap.DEFAULT_ENTROPY_THRESHOLD,
        label="Split threshold (normalised vote entropy, 0–1)",
        help_text="0.8: a 2–1 or 3–2 split gets more, a 4–1 split does not.",
    )
    # Step 3: limits.
    per_participant_cap = forms.IntegerField(
        required=False, min_value=1, label="Items per participant (cap)", help_text="Empty: none."
    )
    attention_check_share = forms.FloatField(
        min_value=0, max_value=0.5, initial=0.0, label="Attention-check share (0 to 0.5)"
    )
    lease_seconds = forms.IntegerField(min_value=30, initial=900, label="Lease (seconds)")
    # Step 4: what participants read.
    consent_text = forms.CharField(max_length=20000, widget=forms.Textarea(attrs={"rows": 4}))
    consent_version = forms.CharField(max_length=32, initial="1")
    instructions = forms.CharField(
        required=False,
        max_length=20000,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text="Markdown. HTML is shown as text.",
    )

    FIELDS_FIXED_AFTER_CREATION = ("slug", "item_kind")


def campaign_fields(data: dict) -> dict:
    """The cleaned form as `Campaign` fields (without slug, name, kind and adaptive overlap)."""
    skip = {"slug", "name", "item_kind"}
    return {
        name: value
        for name, value in data.items()
        if name not in skip and not name.startswith("adaptive")
    }


ADAPTIVE_FIELDS = ("max_k", "step", "rule", "jsd_threshold", "entropy_threshold")


def adaptive_setting(data: dict) -> services.AdaptiveSetting | None:
    """The form's adaptive overlap (None: off); a missing maximum is the service's to refuse."""
    if not data.get("adaptive"):
        return None
    given = {
        name: value
        for name in ADAPTIVE_FIELDS
        if (value := data.get(f"adaptive_{name}")) not in (None, "")
    }
    return services.AdaptiveSetting(**({"max_k": 0} | given))


def adaptive_initial(campaign: Campaign) -> dict:
    try:
        setting = campaign.adaptive
    except AdaptiveOverlap.DoesNotExist:
        return {"adaptive": False}
    return {"adaptive": True} | {
        f"adaptive_{name}": getattr(setting, name) for name in ADAPTIVE_FIELDS
    }


class DuplicateForm(forms.Form):
    slug = forms.SlugField(max_length=64, label="Slug of the copy")
    name = forms.CharField(max_length=200, label="Name of the copy")


class ImportForm(forms.Form):
    file = forms.FileField(
        help_text="Plain or gzipped (.gz) text, Parquet or Arrow, or a .zip or .tar.gz of a "
        "folder written by datasets' save_to_disk."
    )
    format = forms.ChoiceField(
        choices=[
            ("auto", "Tell from the first row"),
            ("jsonl", "JSONL (this platform's items)"),
            ("csv", "CSV"),
            ("hh-rlhf", "HH-RLHF (JSONL)"),
            ("pairs", "prompt / chosen / rejected (JSONL, Parquet, Arrow, a datasets folder)"),
            ("prompt-response", "prompt / response to rate, as HelpSteer2 (JSONL, Parquet)"),
        ],
        initial="auto",
    )
    keep_valid = forms.BooleanField(
        required=False,
        label="Keep the valid rows and list the rejected ones (otherwise all or nothing)",
    )


class ItemEditForm(forms.Form):
    prompt = forms.CharField(widget=forms.Textarea(attrs={"rows": 5}))


class ItemFilterForm(forms.Form):
    q = forms.CharField(required=False, label="Search", max_length=200)
    audience = forms.ChoiceField(required=False, label="Answered by")
    status = forms.ChoiceField(
        required=False,
        choices=[
            ("", "Any status"),
            ("live", "Served"),
            ("excluded", "Excluded"),
            ("superseded", "Replaced by a new version"),
        ],
    )
    flagged = forms.BooleanField(required=False, label="Open flags only")
    attention = forms.ChoiceField(
        required=False,
        label="Attention checks",
        choices=[("", "Both"), ("only", "Only checks"), ("none", "No checks")],
    )
