from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("collection", "0008_item_excluded_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="campaign",
            name="rating_rubric",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddConstraint(
            model_name="campaign",
            constraint=models.CheckConstraint(
                condition=models.Q(("item_kind", "rating"), _negated=True)
                | models.Q(("rating_min__isnull", False)),
                name="campaign_rating_kind_has_scale",
            ),
        ),
    ]
