"""Operational endpoints: health."""

from __future__ import annotations

from flask_restx import Resource, fields

from ..errors import problem
from ..services.health import database_ok
from .common import shared_namespace

ops_ns = shared_namespace("operations", "Health of the service", path="/")

health_model = ops_ns.model("Health", {
    "status": fields.String(example="ok"),
    "database": fields.String(example="ok"),
})


@ops_ns.route("/health", endpoint="health")
class HealthResource(Resource):
    @ops_ns.response(200, "The service and its database answer", health_model)
    @ops_ns.response(503, "The database is unreachable", health_model)
    def get(self):
        """Is the service up and its database reachable?"""
        if database_ok():
            return {"status": "ok", "database": "ok"}
        return problem(503, "The database is unreachable", headers={"Retry-After": "5"},
                       database="unreachable")
