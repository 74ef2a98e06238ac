"""Query parameters are as strict as bodies: an unknown one (``?stauts=``, a typo that
would silently widen a list instead of filtering it) or a single-valued one sent twice
is a 422, not a guess."""

from typing import Annotated
from typing import Union
from typing import get_args
from typing import get_origin

from fastapi import Query
from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from api.problems import invalid_request
from api.problems import safe_field

SEQUENCES = (list, set, frozenset, tuple)

# What the lists share: the page size (each list has its own default) and the customer filter.
PageSize = Annotated[int, Query(ge=1, le=100)]
CustomerFilter = Annotated[str | None, Query(max_length=64)]


def _takes_many(annotation) -> bool:
    if get_origin(annotation) in SEQUENCES:
        return True
    return get_origin(annotation) is Union and any(_takes_many(a) for a in get_args(annotation))


def _declared(route: APIRoute) -> dict[str, bool]:
    """Query parameter name → whether it may repeat."""
    declared: dict[str, bool] = {}
    pending: list[Dependant] = [route.dependant]
    while pending:
        dependant = pending.pop()
        for param in dependant.query_params:
            declared[param.alias] = _takes_many(param.field_info.annotation)
        pending.extend(dependant.dependencies)
    return declared


async def reject_unknown_query_parameters(request: Request) -> None:
    # async: a plain function dependency would cost a thread hop on every request.
    # The raw query string first: parsing an empty one, on nearly every request, costs more.
    route = request.scope.get("route")
    if not request.scope.get("query_string") or not isinstance(route, APIRoute):
        return
    declared = _declared(route)
    errors = []
    for name in dict.fromkeys(request.query_params):
        if name not in declared:
            errors.append((name, "unknown parameter"))
        elif not declared[name] and len(request.query_params.getlist(name)) > 1:
            errors.append((name, "sent more than once"))
    if errors:
        fields = [
            {"field": f"query.{safe_field(name)}", "message": message, "type": "extra_forbidden"}
            for name, message in errors
        ]
        raise invalid_request(fields)
