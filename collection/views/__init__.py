"""The annotator web forms: sign-up, joining, consent, profile, annotation, withdrawal.

Views stay thin: each parses its form, calls one service and picks a page or a
redirect. Every page but sign-up and login needs a login, and every object is
looked up through the signed-in participant, so nobody reaches another
person's assignments.

One module per page area; the view functions are re-exported here for `collection/urls.py`:

- ``accounts``: sign-up, API tokens;
- ``joining``: home, joining an audience or invitation, profile, consent;
- ``annotating``: annotate, submit, skip;
- ``edits``: changing one's last answer;
- ``submissions``: my submissions, withdrawal;
- ``common``: the helpers they share.
"""

from collection.views.accounts import api_tokens, signup
from collection.views.annotating import annotate, skip, submit
from collection.views.edits import edit_last
from collection.views.joining import (
    FILL_CACHE_SECONDS,
    audience_join,
    consent,
    home,
    invitation_join,
    profile,
)
from collection.views.submissions import (
    SUBMISSIONS_PER_PAGE,
    submissions,
    withdraw_campaign,
    withdraw_platform,
)

__all__ = [
    "FILL_CACHE_SECONDS",
    "SUBMISSIONS_PER_PAGE",
    "annotate",
    "api_tokens",
    "audience_join",
    "consent",
    "edit_last",
    "home",
    "invitation_join",
    "profile",
    "signup",
    "skip",
    "submissions",
    "submit",
    "withdraw_campaign",
    "withdraw_platform",
]
