"""``/api/ai-parts/*``: every operation answers 501 ``AI_NOT_AVAILABLE``.

The contract's operations start an AI task (``analyze``, ``cleanup``: 201 with a ``task_id``
whose ``task_event``\\ s carry the outcome) or create a part from its suggestions (``create``).
Partsbin has no AI service, so each answers the error envelope with status 501 (the server
does not support the function; not a 503, as retrying will not help) and a message the UI shows
as it is in its AI dialogs ("Analysis request failed: ..."). The request body is not read:
whatever it holds, the answer is the same. Like every write, they need the editor role, so a
reader still gets 403 and an anonymous caller 401.
"""

from __future__ import annotations

from flask import Response
from flask_openapi3 import APIBlueprint, Tag

from core.plugin_api import ApiError, error_responses

blueprint = APIBlueprint(
    "ai_parts", __name__, url_prefix="/api/ai-parts", abp_tags=[Tag(name="ai")]
)

NOT_AVAILABLE = "AI_NOT_AVAILABLE"


class AiNotAvailable(ApiError):
    """501 ``AI_NOT_AVAILABLE``: this server has no AI service."""

    status, code = 501, NOT_AVAILABLE


def _not_available(what: str, instead: str) -> AiNotAvailable:
    # Plain words without quotes: the UI shows the body's raw JSON text.
    return AiNotAvailable(f"{what} is not available on this server; {instead}")


@blueprint.post("/analyze", responses=error_responses(501))
def analyze() -> Response:
    """Analyse a part from text or a photo: not available (501 ``AI_NOT_AVAILABLE``)."""
    raise _not_available("AI part analysis", "add the part by hand instead")


@blueprint.post("/cleanup", responses=error_responses(501))
def cleanup() -> Response:
    """Suggest improvements to a part's fields: not available (501 ``AI_NOT_AVAILABLE``)."""
    raise _not_available("AI part cleanup", "edit the part by hand instead")


@blueprint.post("/create", responses=error_responses(501))
def create() -> Response:
    """Create a part from an AI analysis: not available (501 ``AI_NOT_AVAILABLE``)."""
    raise _not_available("Creating parts from AI suggestions", "add the part by hand instead")
