"""The v1 REST routes: thin handlers that parse a request, call the store, answer JSON.

Status codes are the recorded ones: creates answer 201 (the activities export would answer
200), the cancellation, plan update and customer merge 202 with a body, deletes 204.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from cmsync.sandbox.chartmogul.errors import ApiError
from cmsync.sandbox.chartmogul.fields import require_object
from cmsync.sandbox.chartmogul.metrics import ENDPOINTS
from cmsync.sandbox.chartmogul.store import Store
from cmsync.sandbox.chartmogul.views import data_source_json, plan_json

__all__ = ["add_routes", "json_answer"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_dumps = functools.partial(json.dumps, separators=(",", ":"), ensure_ascii=False)


def json_answer(status: int, body: Any) -> web.Response:
    return web.json_response(body, status=status, dumps=_dumps)


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        raw = await request.json() if request.can_read_body else {}
    except ValueError:
        raise ApiError(400, {"code": 400, "message": "Invalid JSON body", "param": None}) from None
    return require_object(raw)


def add_routes(app: web.Application, store: Store) -> None:
    run = store.run
    r = app.router

    async def ping(_: web.Request) -> web.Response:
        return json_answer(200, {"data": "pong!"})

    async def account(request: web.Request) -> web.Response:
        return json_answer(200, run(store.account, request.query))

    # data sources
    async def create_data_source(request: web.Request) -> web.Response:
        return json_answer(201, run(store.sources.create_data_source, await _body(request)))

    async def list_data_sources(request: web.Request) -> web.Response:
        return json_answer(200, run(store.sources.list_data_sources, request.query))

    async def get_data_source(request: web.Request) -> web.Response:
        ds = run(store.sources.data_source, request.match_info["uuid"])
        return json_answer(200, data_source_json(ds))

    async def delete_data_source(request: web.Request) -> web.Response:
        run(store.sources.delete_data_source, request.match_info["uuid"])
        return web.Response(status=204)

    # plans
    async def create_plan(request: web.Request) -> web.Response:
        return json_answer(201, run(store.sources.create_plan, await _body(request)))

    async def list_plans(request: web.Request) -> web.Response:
        return json_answer(200, run(store.sources.list_plans, request.query))

    async def get_plan(request: web.Request) -> web.Response:
        return json_answer(200, plan_json(run(store.sources.plan, request.match_info["uuid"])))

    async def update_plan(request: web.Request) -> web.Response:
        body = await _body(request)
        return json_answer(202, run(store.sources.update_plan, request.match_info["uuid"], body))

    async def delete_plan(request: web.Request) -> web.Response:
        run(store.sources.delete_plan, request.match_info["uuid"])
        return web.Response(status=204)

    # customers
    async def create_customer(request: web.Request) -> web.Response:
        return json_answer(201, run(store.customers.create, await _body(request)))

    async def list_customers(request: web.Request) -> web.Response:
        return json_answer(200, run(store.list_customers, request.query))

    async def search_customers(request: web.Request) -> web.Response:
        return json_answer(200, run(store.customers.search, request.query))

    async def get_customer(request: web.Request) -> web.Response:
        return json_answer(200, run(store.customers.retrieve, request.match_info["uuid"]))

    async def update_customer(request: web.Request) -> web.Response:
        body = await _body(request)
        return json_answer(200, run(store.customers.update, request.match_info["uuid"], body))

    async def merge_customers(request: web.Request) -> web.Response:
        return json_answer(202, run(store.customers.merge, await _body(request)))

    async def delete_customer(request: web.Request) -> web.Response:
        run(store.customers.delete, request.match_info["uuid"])
        return web.Response(status=204)

    async def customer_subscriptions(request: web.Request) -> web.Response:
        uuid = request.match_info["uuid"]
        return json_answer(200, run(store.customers.subscriptions, uuid, request.query))

    async def customer_activities(request: web.Request) -> web.Response:
        uuid = request.match_info["uuid"]
        return json_answer(200, run(store.customers.activities, uuid, request.query))

    # import namespace
    async def import_invoices(request: web.Request) -> web.Response:
        body = await _body(request)
        created = run(store.invoices.import_invoices, request.match_info["uuid"], body)
        return json_answer(201, {"invoices": created})

    async def customer_invoices(request: web.Request) -> web.Response:
        uuid = request.match_info["uuid"]
        return json_answer(200, run(store.invoices.list_for_customer, uuid, request.query))

    async def import_subscriptions(request: web.Request) -> web.Response:
        uuid = request.match_info["uuid"]
        return json_answer(200, run(store.subscriptions.list_for_customer, uuid, request.query))

    async def update_subscription(request: web.Request) -> web.Response:
        body = await _body(request)
        return json_answer(202, run(store.subscriptions.update, request.match_info["uuid"], body))

    async def add_transaction(request: web.Request) -> web.Response:
        body = await _body(request)
        return json_answer(
            201, run(store.invoices.add_transaction, request.match_info["uuid"], body)
        )

    # invoices
    async def list_invoices(request: web.Request) -> web.Response:
        return json_answer(200, run(store.list_invoices, request.query))

    async def get_invoice(request: web.Request) -> web.Response:
        return json_answer(200, run(store.invoices.retrieve, request.match_info["uuid"]))

    async def delete_invoice(request: web.Request) -> web.Response:
        run(store.invoices.delete, request.match_info["uuid"])
        return web.Response(status=204)

    # metrics API
    async def activities(request: web.Request) -> web.Response:
        return json_answer(200, run(store.activities, request.query))

    def metric(endpoint: str) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            return json_answer(200, run(store.metrics, endpoint, request.query))

        return handler

    r.add_get("/v1/ping", ping)
    r.add_get("/v1/account", account)
    r.add_post("/v1/data_sources", create_data_source)
    r.add_get("/v1/data_sources", list_data_sources)
    r.add_get("/v1/data_sources/{uuid}", get_data_source)
    r.add_delete("/v1/data_sources/{uuid}", delete_data_source)
    for path in ("/v1/plans", "/v1/import/plans"):  # the second is the older alias
        r.add_post(path, create_plan)
    r.add_get("/v1/plans", list_plans)
    r.add_get("/v1/plans/{uuid}", get_plan)
    r.add_patch("/v1/plans/{uuid}", update_plan)
    r.add_delete("/v1/plans/{uuid}", delete_plan)
    r.add_post("/v1/customers", create_customer)
    r.add_get("/v1/customers", list_customers)
    r.add_post("/v1/customers/merges", merge_customers)
    r.add_get("/v1/customers/search", search_customers)  # before {uuid}, which would match it
    r.add_get("/v1/customers/{uuid}", get_customer)
    r.add_patch("/v1/customers/{uuid}", update_customer)
    r.add_delete("/v1/customers/{uuid}", delete_customer)
    r.add_get("/v1/customers/{uuid}/subscriptions", customer_subscriptions)
    r.add_get("/v1/customers/{uuid}/activities", customer_activities)
    r.add_post("/v1/import/customers/{uuid}/invoices", import_invoices)
    r.add_get("/v1/import/customers/{uuid}/invoices", customer_invoices)
    r.add_get("/v1/import/customers/{uuid}/subscriptions", import_subscriptions)
    r.add_patch("/v1/import/subscriptions/{uuid}", update_subscription)
    r.add_post("/v1/import/invoices/{uuid}/transactions", add_transaction)
    r.add_get("/v1/invoices", list_invoices)
    r.add_get("/v1/invoices/{uuid}", get_invoice)
    r.add_delete("/v1/invoices/{uuid}", delete_invoice)
    r.add_get("/v1/activities", activities)
    for endpoint in ("all", *ENDPOINTS):
        r.add_get(f"/v1/metrics/{endpoint}", metric(endpoint))
