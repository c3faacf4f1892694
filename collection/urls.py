from django.contrib.auth import views as auth_views
from django.urls import path

from collection import views

urlpatterns = [
    path("", views.home, name="home"),
    path("signup/", views.signup, name="signup"),
    path(
        "login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("join/<str:token>/", views.invitation_join, name="invitation_join"),
    path("audiences/<slug:slug>/join/", views.audience_join, name="audience_join"),
    path("audiences/<slug:slug>/profile/", views.profile, name="profile"),
    path("campaigns/<slug:slug>/consent/", views.consent, name="consent"),
    path("campaigns/<slug:slug>/annotate/", views.annotate, name="annotate"),
    path("campaigns/<slug:slug>/submit/", views.submit, name="submit"),
    path("campaigns/<slug:slug>/skip/", views.skip, name="skip"),
    path("campaigns/<slug:slug>/last/", views.edit_last, name="edit_last"),
    path("campaigns/<slug:slug>/withdraw/", views.withdraw_campaign, name="withdraw_campaign"),
    path("submissions/", views.submissions, name="submissions"),
    path("withdraw/", views.withdraw_platform, name="withdraw_platform"),
    path("account/tokens/", views.api_tokens, name="api_tokens"),
]
