"""The web view: pages (Jinja2 templates) and a JSON API under `/api/`, on FastAPI.

It only reads the project (`overview.Project`); the JSON has the shapes of the
CLI's `--json`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from fastapi.templating import Jinja2Templates

from provisioner.engine.run_record import EVENTS_FILE, find_run
from provisioner.errors import ProvisionError
from provisioner.graph.render import EDGE_MEANINGS, dot_to_svg, to_dot
from provisioner.spec.addresses import Address
from provisioner.web.access import COOKIE, Access
from provisioner.web.drift import drift_json, latest_report
from provisioner.web.hosts import Host
from provisioner.web.live import event_lines, follow_changes, follow_events, is_running
from provisioner.web.overview import (
    STATE_COLOURS,
    NodeState,
    Project,
    RunFilter,
    command_of,
    node_states,
    timeline,
)

TEMPLATES = Jinja2Templates(directory=Path(__file__).with_name("templates"))


def create_app(project: Project, access: Access) -> FastAPI:
    app = FastAPI(title="provision", docs_url=None, redoc_url=None, openapi_url=None)

    @app.middleware("http")
    async def token_required(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        query_token = request.query_params.get("token")
        if not access.allows(
            request.headers.get("authorization"), query_token, request.cookies.get(COOKIE)
        ):
            return JSONResponse({"error": "a valid token is required"}, status_code=401)
        response = await call_next(request)
        # A browser's first visit: a right token in the query is kept in a cookie.
        if access.token is not None and query_token and access.allows(None, query_token):
            response.set_cookie(COOKIE, query_token, httponly=True, samesite="strict")
        return response

    def environment_named(name: str) -> str:
        """`name` if it is one of the project's environments (never a path): else 404."""
        if name not in project.environment_names():
            raise HTTPException(status_code=404, detail=f"no environment '{name}'")
        return name

    def runs_json(chosen: RunFilter) -> list[dict[str, Any]]:
        return [
            {**run.summary_json(), "environment": run.info.environment, "kind": command_of(run)}
            for run in project.runs(chosen)
        ]

    @app.get("/api/environments")
    def environments_api() -> list[dict[str, Any]]:
        return [summary.to_json() for summary in project.summaries()]

    @app.get("/api/runs")
    def runs_api(
        environment: str | None = None, command: str | None = None, outcome: str | None = None
    ) -> list[dict[str, Any]]:
        return runs_json(RunFilter(environment, command, outcome))

    @app.get("/api/runs/changes")
    def run_changes(
        environment: str | None = None, command: str | None = None, outcome: str | None = None
    ) -> StreamingResponse:
        """Server-sent events: the run list (as /api/runs gives it) whenever it changes."""
        chosen = RunFilter(environment, command, outcome)

        async def stream() -> AsyncIterator[str]:
            async for runs in follow_changes(lambda: runs_json(chosen)):
                yield f"data: {json.dumps(runs)}\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream")

    @app.get("/api/runs/{run_id}")
    def run_api(run_id: str) -> dict[str, Any]:
        try:
            record = find_run(project.paths.runs_root, run_id)
        except ProvisionError as error:
            raise HTTPException(status_code=404, detail=error.message) from None
        return record.to_json()

    @app.get("/runs/{run_id}", response_class=HTMLResponse)
    def run_page(request: Request, run_id: str, failures: bool = False) -> HTMLResponse:
        try:
            record = find_run(project.paths.runs_root, run_id)
        except ProvisionError as error:
            raise HTTPException(status_code=404, detail=error.message) from None
        bars = timeline(record, project.graph(record.info.environment))
        return TEMPLATES.TemplateResponse(
            request,
            "run.html",
            {
                "run": record,
                "bars": bars,
                "length": max((bar.end for bar in bars), default=0.0) or 1.0,
                "log": event_lines(record.folder / EVENTS_FILE, failures_only=failures),
                "failures": failures,
                "live": is_running(record.folder),
            },
        )

    @app.get("/environments/{name}", response_class=HTMLResponse)
    def environment_page(request: Request, name: str) -> HTMLResponse:
        graph = project.graph(environment_named(name))
        if graph is None:
            raise HTTPException(status_code=404, detail=f"no environment '{name}' compiles")
        last = project.last_up(name)
        states = node_states(last)
        fill = {
            node.address: STATE_COLOURS[states.get(str(node.address), NodeState.UNCHANGED)]
            for node in graph.nodes()
        }
        drawn = to_dot(
            graph, fill=fill, link=lambda a: f"/environments/{name}/nodes/{a}", keys=False
        )
        return TEMPLATES.TemplateResponse(
            request,
            "environment.html",
            {
                "name": name,
                "svg": dot_to_svg(drawn),
                "last": last,
                "colours": {state.value: colour for state, colour in STATE_COLOURS.items()},
                "edges": EDGE_MEANINGS,
            },
        )

    @app.get("/environments/{name}/nodes/{address}", response_class=HTMLResponse)
    def node_page(request: Request, name: str, address: str) -> HTMLResponse:
        graph = project.graph(environment_named(name))
        try:
            node = Address.parse(address)
        except ValueError:
            node = None
        if graph is None or node is None or node not in graph:
            raise HTTPException(status_code=404, detail=f"no node '{address}' in '{name}'")
        return TEMPLATES.TemplateResponse(
            request,
            "node.html",
            {
                "name": name,
                "address": address,
                "properties": graph.node(node).attributes(),
                "outputs": project.node_outputs(name, address),
                "history": project.node_history(name, address),
            },
        )

    @app.get("/api/runs/{run_id}/events")
    def run_events(run_id: str) -> StreamingResponse:
        """Server-sent events: each of the run's events as it is recorded, then `end`."""
        try:
            folder = find_run(project.paths.runs_root, run_id).folder
        except ProvisionError as error:
            raise HTTPException(status_code=404, detail=error.message) from None

        async def stream() -> AsyncIterator[str]:
            async for line in follow_events(folder, lambda: is_running(folder)):
                yield f"data: {line}\n\n"
            yield "event: end\ndata: {}\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream")

    def hosts_of(name: str) -> list[Host]:
        found = project.hosts(environment_named(name))
        if found is None:
            raise HTTPException(status_code=404, detail=f"no environment '{name}' compiles")
        return found

    @app.get("/api/environments/{name}/hosts")
    def hosts_api(name: str) -> list[dict[str, Any]]:
        return [host.to_json() for host in hosts_of(name)]

    @app.get("/environments/{name}/hosts", response_class=HTMLResponse)
    def hosts_page(request: Request, name: str) -> HTMLResponse:
        return TEMPLATES.TemplateResponse(
            request, "hosts.html", {"name": name, "hosts": hosts_of(name)}
        )

    @app.get("/api/environments/{name}/drift")
    def drift_api(name: str) -> dict[str, Any]:
        """The latest report (as `drift --json` gives it) and the history of checks."""
        history = project.drift_history(environment_named(name))
        latest = latest_report(history)
        return {
            "environment": name,
            "latest": drift_json(latest) if latest is not None else None,
            "history": [point.to_json() for point in history],
        }

    @app.get("/environments/{name}/drift", response_class=HTMLResponse)
    def drift_page(request: Request, name: str) -> HTMLResponse:
        history = project.drift_history(environment_named(name))
        return TEMPLATES.TemplateResponse(
            request,
            "drift.html",
            {"name": name, "latest": latest_report(history), "history": history},
        )

    @app.get("/", response_class=HTMLResponse)
    def environments_page(request: Request) -> HTMLResponse:
        return TEMPLATES.TemplateResponse(
            request, "environments.html", {"environments": project.summaries()}
        )

    @app.get("/runs", response_class=HTMLResponse)
    def runs_page(
        request: Request,
        environment: str | None = None,
        command: str | None = None,
        outcome: str | None = None,
    ) -> HTMLResponse:
        chosen = RunFilter(environment or None, command or None, outcome or None)
        return TEMPLATES.TemplateResponse(
            request,
            "runs.html",
            {
                "runs": runs_json(chosen),
                "chosen": chosen,
                "environments": project.environment_names(),
            },
        )

    return app
