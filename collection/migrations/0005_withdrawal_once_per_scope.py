from django.db import migrations, models

# Before this migration every withdrawal request added a row. Keep the first per
# participant and scope (the platform counts as one scope), with the responses the
# later ones withdrew added to it, so releases' counts stay the same.
RANKED = """
WITH ranked AS (
    SELECT id,
           first_value(id) OVER (
               PARTITION BY participant_id, campaign_id ORDER BY created_at, id) AS keep,
           sum(responses_withdrawn) OVER (PARTITION BY participant_id, campaign_id) AS total
    FROM collection_withdrawal)
"""
MERGE_DUPLICATES = [
    RANKED
    + """
    UPDATE collection_withdrawal w SET responses_withdrawn = r.total
    FROM ranked r WHERE w.id = r.id AND r.id = r.keep AND w.responses_withdrawn <> r.total
    """,
    RANKED
    + """
    DELETE FROM collection_withdrawal w USING ranked r WHERE w.id = r.id AND r.id <> r.keep
    """,
]


class Migration(migrations.Migration):
    dependencies = [
        ("collection", "0004_campaign_rating_scale_at_most_11_points"),
    ]

    operations = [
        migrations.RunSQL(MERGE_DUPLICATES, reverse_sql=migrations.RunSQL.noop),
        migrations.AddConstraint(
            model_name="withdrawal",
            constraint=models.UniqueConstraint(
                condition=models.Q(("campaign__isnull", True)),
                fields=("participant",),
                name="withdrawal_once_from_platform",
            ),
        ),
        migrations.AddConstraint(
            model_name="withdrawal",
            constraint=models.UniqueConstraint(
                fields=("participant", "campaign"), name="withdrawal_once_per_campaign"
            ),
        ),
    ]
