"""Panel studies and their entrants: entry, screening against quotas, finishing.

Lock order (see `collection.services` for the engine's): the study row first, then
what `collection.services.membership_join` locks (participant, audience). Only
placing a person locks the study, so placements are serialised per study and a
quota cell never fills past its places plus the places in flight: people placed
but not finished within `place_minutes` stop counting, and a returned place is
freed at once.
"""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from collection import payloads, quotas, services
from collection.models import Audience, Campaign, Invitation, JoinedVia, Participant, Response
from panels import selectors
from panels.models import PanelEntrant, PanelStudy

MAX_EXTERNAL_ID_CHARS = 200
PROLIFIC_COMPLETE = "https://app.prolific.com/submissions/complete?cc={code}"
# The parameter that carries the panel's id for a person, and the other ids kept.
ID_PARAMETERS = {
    PanelStudy.Panel.PROLIFIC: ("PROLIFIC_PID", ("STUDY_ID", "SESSION_ID")),
    PanelStudy.Panel.MTURK: ("workerId", ("assignmentId", "hitId")),
    PanelStudy.Panel.GENERIC: ("pid", ()),
}
# The id a panel gives one sitting of one person: a link that resumes an entrant must
# carry the sitting's id that entered, so knowing someone's panel id alone does not
# sign anyone in as them. (MTurk's preview has no assignment yet.)
SITTING_PARAMETER = {
    PanelStudy.Panel.PROLIFIC: "SESSION_ID",
    PanelStudy.Panel.MTURK: "assignmentId",
}
NO_SITTING_YET = ("ASSIGNMENT_ID_NOT_AVAILABLE",)
# Place-holders that mean the panel did not fill its template in (a preview).
UNFILLED = ("{{%", "{%", "%}")


def _checked_cells(cells, audience: Audience) -> list[dict]:
    cells = cells if cells is not None else []
    if not isinstance(cells, list):
        raise payloads.PayloadError("quota_cells", "Must be a list of {attributes, places}.")
    choices = {attribute["name"]: attribute["choices"] for attribute in audience.attribute_schema}
    clean, seen = [], set()
    for i, cell in enumerate(cells):
        field = f"quota_cells.{i}"
        cell = payloads.mapping_field(cell, field)
        payloads.no_unknown(cell, {"attributes", "places"}, field)
        values = payloads.mapping_field(cell.get("attributes"), f"{field}.attributes")
        if not values:
            raise payloads.PayloadError(f"{field}.attributes", "Name at least one attribute.")
        for name, value in values.items():
            if name not in choices:
                raise payloads.PayloadError(
                    f"{field}.attributes.{name}", "Not an attribute of this audience's schema."
                )
            if value not in choices[name]:
                raise payloads.PayloadError(
                    f"{field}.attributes.{name}", f"Choose one of: {', '.join(choices[name])}."
                )
        places = cell.get("places")
        if not isinstance(places, int) or isinstance(places, bool) or places < 0:
            raise payloads.PayloadError(f"{field}.places", "Must be a whole number, 0 or more.")
        key = quotas.cell_key(values)
        if key in seen:
            raise payloads.PayloadError(f"{field}.attributes", "This cell is listed twice.")
        seen.add(key)
        clean.append({"attributes": dict(values), "places": places})
    return clean


def panel_study_create(
    *,
    campaign: Campaign,
    audience: Audience,
    panel: str,
    name: str,
    places: int,
    created_by,
    quota_cells: list | None = None,
    judgements_required: int = 10,
    place_minutes: int = 60,
    completion_url: str = "",
    quotas_released_at=None,
) -> PanelStudy:
    if panel not in PanelStudy.Panel.values:
        raise services.ServiceError(
            f"Choose one of: {', '.join(PanelStudy.Panel.values)}.", field="panel"
        )
    if not campaign.targets.filter(audience=audience).exists():
        raise services.ServiceError("The campaign does not target this audience.", field="audience")
    if completion_url and "{code}" not in completion_url:
        raise services.ServiceError(
            "Put {code} where the completion code goes.", field="completion_url"
        )
    try:
        cells = _checked_cells(quota_cells, audience)
    except payloads.PayloadError as error:
        raise services.payload_error(error) from error
    with transaction.atomic():
        invitation = Invitation.objects.create(
            audience=audience,
            note=f"Panel study: {name}"[:200],
            max_uses=2_147_483_647,
            created_by=created_by,
        )
        study = PanelStudy(
            campaign=campaign,
            audience=audience,
            panel=panel,
            name=name,
            places=places,
            quota_cells=cells,
            judgements_required=judgements_required,
            place_minutes=place_minutes,
            completion_url=completion_url,
            quotas_released_at=quotas_released_at,
            invitation=invitation,
            created_by=created_by,
        )
        try:
            study.full_clean(exclude=["invitation"])
        except ValidationError as error:
            field, problems = next(iter(error.message_dict.items()))
            raise services.ServiceError(problems[0], field=field) from error
        study.save()
    return study


def panel_study_release_quotas(*, study: PanelStudy, at=None) -> PanelStudy:
    """Let the remaining places go to anyone the study admits, now or from ``at``:
    the way out when a group never arrives and its places would stay empty."""
    with transaction.atomic():
        study = PanelStudy.objects.select_for_update().get(pk=study.pk)
        study.quotas_released_at = at or timezone.now()
        study.save(update_fields=["quotas_released_at"])
    return study


def _check_id(value: str, name: str) -> str:
    if len(value) > MAX_EXTERNAL_ID_CHARS:
        raise services.ServiceError(
            f"{name}: at most {MAX_EXTERNAL_ID_CHARS} characters.", field=name
        )
    try:
        payloads.check_text(value, name)
    except payloads.PayloadError as error:
        raise services.ServiceError(f"{name}: {error.message}", field=name) from error
    return value


def entry_parameters(study: PanelStudy, params) -> tuple[str, dict, dict]:
    """The person's external id, the panel's other ids and the attribute values the
    link carries, from the entry link's query string; errors name the parameter."""
    id_name, other_names = ID_PARAMETERS[study.panel]
    external_id = (params.get(id_name) or "").strip()
    if not external_id or any(mark in external_id for mark in UNFILLED):
        raise services.ServiceError(
            f"This link is missing the {id_name} parameter that the panel fills in.",
            field=id_name,
        )
    _check_id(external_id, id_name)
    # The other ids are checked as the person's is: cutting them short would let two
    # sessions read as one, and a NUL would reach PostgreSQL's jsonb.
    ids = {name: _check_id(params[name], name) for name in other_names if params.get(name)}
    given = {}
    for attribute in study.audience.attribute_schema:
        value = params.get(attribute["name"])
        if value is None or value == "":
            continue
        if value not in attribute["choices"]:
            raise services.ServiceError(
                f"{attribute['name']}: choose one of: {', '.join(attribute['choices'])}.",
                field=attribute["name"],
            )
        given[attribute["name"]] = value
    return external_id, ids, given


def panel_enter(
    *, study: PanelStudy, external_id: str, panel_ids: dict, given: dict
) -> PanelEntrant:
    """Create the entrant and its participant, or resume the one this id already has."""
    if not study.active:
        raise services.NotEligible("This study is not taking part any more.", field="study")
    existing = PanelEntrant.objects.filter(study=study, external_id=external_id).first()
    if existing is not None:
        _same_sitting(study, existing, panel_ids)
        return existing
    if study.campaign.status != Campaign.Status.OPEN:
        raise services.NotEligible("This study is not open right now.", field="campaign")
    try:
        with transaction.atomic():
            # A random username: the external id stays in this app's table only.
            user = get_user_model().objects.create_user(
                username=f"panel-{secrets.token_hex(10)}", password=None
            )
            participant = Participant.objects.create(user=user)
            return PanelEntrant.objects.create(
                study=study,
                external_id=external_id,
                panel_ids=panel_ids,
                participant=participant,
                panel_given=given,
            )
    except IntegrityError:
        # The same id entered twice at once: the other request's row won (the unique
        # constraint waited for it to commit), and this one's user was rolled back.
        return PanelEntrant.objects.get(study=study, external_id=external_id)


def _same_sitting(study: PanelStudy, entrant: PanelEntrant, panel_ids: dict) -> None:
    name = SITTING_PARAMETER.get(study.panel)
    entered = entrant.panel_ids.get(name) if name else None
    if not entered or entered in NO_SITTING_YET:
        return
    if panel_ids.get(name) != entered:
        raise services.Conflict(
            f"{name}: this person started the study in another session; open the "
            "link the panel gave for that session.",
            field=name,
        )


def panel_screen(*, entrant: PanelEntrant, attributes: dict) -> PanelEntrant:
    """Place the person against the study's quotas, or screen them out, from the
    attributes they gave; a placed person joins the audience with them."""
    study = entrant.study
    try:
        clean = payloads.validate_attributes(attributes, study.audience.attribute_schema)
    except payloads.PayloadError as error:
        raise services.payload_error(error) from error
    with transaction.atomic():
        study = PanelStudy.objects.select_for_update().get(pk=study.pk)
        entrant = PanelEntrant.objects.select_for_update().get(pk=entrant.pk)
        if entrant.status != PanelEntrant.Status.ENTERED:
            return entrant  # decided already (a second tab, a reload)
        now = timezone.now()
        quota = selectors.study_quota(study, now)
        total, taken = selectors.places_taken(study, quota, now)
        decision = quotas.decide(clean, quota, taken_total=total, taken=taken)
        # After a release the quota has no groups; the place still records the
        # person's values, so the study page can show where the places went.
        entrant.cell = decision.cell or {
            name: clean.get(name) for name in study.audience.target_marginals
        }
        if decision.outcome == quotas.OK:
            services.membership_join(
                participant=entrant.participant,
                audience=study.audience,
                invitation=study.invitation,
                attributes=clean,
                joined_via=JoinedVia.PANEL,
            )
            entrant.status = PanelEntrant.Status.WORKING
            entrant.placed_at = now
        else:
            entrant.status = (
                PanelEntrant.Status.SCREENED_OUT
                if decision.outcome == quotas.SCREENED_OUT
                else PanelEntrant.Status.OVER_QUOTA
            )
            entrant.finished_at = now
        entrant.save(update_fields=["cell", "status", "placed_at", "finished_at"])
    return entrant


class NotFinished(services.Conflict):
    pass


def judgements_of(entrant: PanelEntrant) -> int:
    return Response.objects.filter(
        participant=entrant.participant, campaign=entrant.study.campaign_id
    ).count()


def panel_finish(*, entrant: PanelEntrant) -> PanelEntrant:
    """Complete the study once the person has done the judgements it asks for, or once
    the campaign has nothing more for them (they are not to blame for that)."""
    study = entrant.study
    if entrant.status == PanelEntrant.Status.COMPLETED:
        return entrant
    if entrant.status != PanelEntrant.Status.WORKING:
        raise services.Conflict("There is nothing to finish.", field="status")
    done = judgements_of(entrant)
    if done < study.judgements_required:
        result = services.assignment_next(participant=entrant.participant, campaign=study.campaign)
        if not isinstance(result, services.NoItem):
            raise NotFinished(
                f"You have done {done} of {study.judgements_required} judgements.",
                field="judgements",
            )
    with transaction.atomic():
        entrant = PanelEntrant.objects.select_for_update().get(pk=entrant.pk)
        if entrant.status == PanelEntrant.Status.WORKING:
            entrant.status = PanelEntrant.Status.COMPLETED
            entrant.finished_at = timezone.now()
            entrant.save(update_fields=["status", "finished_at"])
    return entrant


def panel_return(*, entrant: PanelEntrant) -> PanelEntrant:
    """Give up the place: it is free for the next person at once."""
    with transaction.atomic():
        entrant = PanelEntrant.objects.select_for_update().get(pk=entrant.pk)
        if entrant.status in (PanelEntrant.Status.ENTERED, PanelEntrant.Status.WORKING):
            entrant.status = PanelEntrant.Status.RETURNED
            entrant.finished_at = timezone.now()
            entrant.save(update_fields=["status", "finished_at"])
    return entrant


def exit_code(entrant: PanelEntrant) -> str | None:
    study = entrant.study
    return {
        PanelEntrant.Status.COMPLETED: study.completion_code,
        PanelEntrant.Status.SCREENED_OUT: study.screenout_code,
        PanelEntrant.Status.OVER_QUOTA: study.overquota_code,
    }.get(entrant.status)


def exit_url(entrant: PanelEntrant) -> str | None:
    """Where the panel wants the person sent with their code, if anywhere."""
    code = exit_code(entrant)
    if code is None:
        return None
    template = entrant.study.completion_url
    if not template and entrant.study.panel == PanelStudy.Panel.PROLIFIC:
        template = PROLIFIC_COMPLETE
    return template.replace("{code}", code) if template else None
