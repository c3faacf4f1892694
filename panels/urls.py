from django.urls import path

from panels import views

urlpatterns = [
    path("panel/<str:token>/", views.entry, name="panel_entry"),
    path("panel/<str:token>/next/", views.step, name="panel_step"),
    path("panel/<str:token>/consent/", views.consent, name="panel_consent"),
    path("panel/<str:token>/screener/", views.screener, name="panel_screener"),
    path("panel/<str:token>/finish/", views.finish, name="panel_finish"),
    path("panel/<str:token>/give-up/", views.give_up, name="panel_give_up"),
    path("panel/<str:token>/end/", views.exit_page, name="panel_exit"),
    path("panels/", views.study_list, name="panel_study_list"),
    path("panels/<int:study_id>/", views.study_detail, name="panel_study_detail"),
    path(
        "panels/<int:study_id>/release-quotas/",
        views.release_quotas,
        name="panel_release_quotas",
    ),
    path(
        "panels/<int:study_id>/completions.csv",
        views.completions_csv,
        name="panel_completions_csv",
    ),
]
