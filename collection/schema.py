"""OpenAPI generation tweaks for drf-spectacular."""

from drf_spectacular.drainage import has_override
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema


class AutoSchema(SpectacularAutoSchema):
    def _get_serializer_name(self, serializer, direction, bypass_extensions=False):
        # API classes nest their serializers as InputSerializer / OutputSerializer;
        # name each component after its API class so the names do not collide.
        name = super()._get_serializer_name(serializer, direction, bypass_extensions)
        qualname = type(serializer).__qualname__
        if "." in qualname and not has_override(serializer, "component_name"):
            outer = qualname.split(".")[0].removesuffix("Api")
            name = f"{outer}{name}"
        return name


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "collection.authentication.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <key>`; create keys at /account/tokens/ or /api/v1/tokens/.",
        }
