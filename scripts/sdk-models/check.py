"""The official SDKs read every answer of Tributary's sandbox into their own models.

Started by scripts/sdk-models/run (which builds the sandbox and the venv): starts the `tributary-sandbox` binary,
then drives each provider's official SDK through every endpoint Tributary's clients call
(crates/provider/src/{snaptrade,plaid,alpaca}), and has the SDK build its own model from each answer, with the
SDK's validation of required fields, types, formats and enums on:

- snaptrade-python-sdk: its public methods skip deserialization by default, so each answer is validated the way
  the SDK does when asked to (`skip_deserialization=False`): the operation's response schema,
  `from_openapi_data_oapg(body, _configuration=…)`, with no client-side validation disabled.
- plaid-python: its generated models are built with `_check_return_type=True` (the default, kept).
- alpaca-py: its pydantic models, built by the SDK's own methods.

Every answer is reported on one line; a model error names the endpoint and quotes the SDK's message. The exit
status is 0 only when every SDK read every answer.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
import subprocess
import sys
import textwrap
import traceback
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass
class Outcome:
    """What one SDK made of one answer: read (no error), rejected by its model, or the call refused."""

    sdk: str
    operation: str
    route: str
    error: str | None = None
    refused: bool = False


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)

    def record(self, sdk: str, operation: str, route: str, error: str | None, refused: bool = False) -> None:
        self.outcomes.append(Outcome(sdk, operation, route, error, refused))
        mark = "ok      " if error is None else "REFUSED " if refused else "REJECTED"
        print(f"  {mark} {operation:<34} {route}", flush=True)
        if error is not None:
            print(textwrap.indent(error.strip(), "           | "), flush=True)

    def refused(self, sdk: str, operation: str, route: str, error: BaseException) -> CallFailed:
        """Records a call that got no answer to model (an HTTP error, the SDK refusing its own request), and
        returns the exception that stops this SDK's run."""
        self.record(sdk, operation, route, describe(error), refused=True)
        return CallFailed(operation)


class CallFailed(Exception):
    """The call itself failed (refused, unreachable): no answer to model."""


def describe(error: BaseException) -> str:
    """The SDK's own message, with the exception's type (pydantic's links to its docs left out)."""
    lines = f"{type(error).__name__}: {error}".splitlines()
    return "\n".join(line for line in lines if not line.strip().startswith("For further information visit"))


# ---------------------------------------------------------------------------------------------------- SnapTrade


def operation_module(api: Any, name: str) -> Any:
    """The SDK module that defines operation `name` of `api` (`snaptrade_client.paths.<path>.<verb>`), with its
    answers' schemas: the module of the class in the API's ancestry that defines the method."""
    for owner in type(api).__mro__:
        if name in vars(owner) and owner.__module__.startswith("snaptrade_client.paths."):
            return sys.modules[owner.__module__]
    raise LookupError(f"snaptrade-python-sdk defines no operation {name}")


class SnapTradeCheck:
    """snaptrade-python-sdk against the SnapTrade sandbox, signed requests and all."""

    def __init__(self, report: Report, sandbox: dict[str, str]) -> None:
        from snaptrade_client import SnapTrade, SnapTradeAuth

        # The SDK logs a warning the first time a deprecated operation is called: printed as a note of the report
        # (the SDK adds its own stderr handler only when the logger has none; its format is set back below, as
        # the SDK's configuration formats every handler).
        notes = logging.StreamHandler(sys.stdout)
        logging.getLogger("snaptrade_client").addHandler(notes)
        self.report = report
        self.client = SnapTrade(
            auth=SnapTradeAuth.commercial_api_key(
                consumer_key=sandbox["consumer_key"], client_id=sandbox["client_id"]
            ),
            host=sandbox["base_url"],
        )
        notes.setFormatter(logging.Formatter("  note     snaptrade-python-sdk: %(message)s"))
        configuration = self.client.account_information.api_client.configuration
        # Structural validation stays on: nothing listed here is skipped.
        assert configuration.disabled_client_side_validations in ("", set(), None), (
            "snaptrade-python-sdk: client-side validations must not be disabled"
        )
        self.configuration = configuration

    async def call(self, route: str, api: Any, operation: str, **arguments: Any) -> Any:
        """Sends through the SDK's `api.a<operation>` (the async form, which keeps the raw body), then has the
        SDK validate that body against the operation's schema for the answer's status, exactly as its
        `deserialize(…, skip_deserialization=False)` does."""
        try:
            answer = await getattr(api, f"a{operation}")(**arguments, skip_deserialization=True)
        except Exception as error:  # the SDK raises ApiException for a non-2xx answer
            raise self.report.refused("snaptrade", operation, route, error) from error
        body = answer.body
        response = operation_module(api, f"a{operation}")._status_code_to_response.get(str(answer.status))
        error = None
        if response is None or not response.content:
            error = f"the SDK defines no answer with status {answer.status}"
        else:
            schema = response.content["application/json"].schema
            try:
                schema.from_openapi_data_oapg(body, _configuration=self.configuration)
            except Exception as failure:
                error = describe(failure)
        self.report.record("snaptrade", operation, route, error)
        return body

    async def run(self) -> None:
        client = self.client
        accounts_api, connections, auth = (
            client.account_information,
            client.connections,
            client.authentication,
        )
        reference, trading = client.reference_data, client.trading

        user_id = f"sdk-check-{uuid.uuid4()}"
        registered = await self.call(
            "POST /snapTrade/registerUser", auth, "register_snap_trade_user", user_id=user_id
        )
        user = {"user_id": user_id, "user_secret": registered["userSecret"]}
        await self.connect(user, "ALPACA", "trade")
        # A brokerage that reports opening and funding dates (`Account.opening_date`: "Only populated for
        # brokerages that expose this data (Tastytrade, …)").
        await self.connect(user, "TASTYTRADE", "read")

        authorizations = await self.call(
            "GET /authorizations", connections, "list_brokerage_authorizations", **user
        )
        trade_connection = next(a for a in authorizations if a["type"] == "trade")["id"]
        await self.call(
            "GET /authorizations/{authorizationId}",
            connections, "detail_brokerage_authorization",
            authorization_id=trade_connection,
            **user,
        )
        accounts = await self.call("GET /accounts", accounts_api, "list_user_accounts", **user)
        account = next(a for a in accounts if a["brokerage_authorization"] == trade_connection)["id"]
        for route, operation in [
            ("GET /accounts/{accountId}", "get_user_account_details"),
            ("GET /accounts/{accountId}/balances", "get_user_account_balance"),
            ("GET /accounts/{accountId}/positions/all", "get_all_account_positions"),
        ]:
            await self.call(route, accounts_api, operation, account_id=account, **user)
        await self.call(
            "GET /accounts/{accountId}/activities",
            accounts_api, "get_account_activities",
            account_id=account,
            start_date="2000-01-01",
            end_date="2100-01-01",
            offset=0,
            limit=1000,
            **user,
        )
        await self.call("POST /symbols", reference, "get_symbols", substring="AAPL")
        symbols = await self.call(
            "POST /accounts/{accountId}/symbols",
            reference, "symbol_search_user_account",
            account_id=account,
            substring="AAPL",
            **user,
        )
        aapl = symbols[0]["id"]

        impact = await self.call(
            "POST /trade/impact",
            trading, "get_order_impact",
            account_id=account,
            action="BUY",
            universal_symbol_id=aapl,
            order_type="Market",
            time_in_force="Day",
            # The SDK's number models take floats, not ints (see `float` in crates/sandbox/src/snaptrade).
            units=1.0,
            **user,
        )
        await self.call(
            "POST /trade/{tradeId}", trading, "place_order", trade_id=impact["trade"]["id"], **user
        )
        working = await self.call(
            "POST /trade/place",
            trading, "place_force_order",
            account_id=account,
            action="BUY",
            order_type="Limit",
            time_in_force="GTC",
            symbol="MSFT",
            price=100.0,
            units=1.5,
            client_order_id=str(uuid.uuid4()),
            **user,
        )
        await self.call(
            "GET /accounts/{accountId}/orders",
            accounts_api, "get_user_account_orders",
            account_id=account,
            state="all",
            days=90,
            **user,
        )
        await self.call(
            "POST /accounts/{accountId}/trading/cancel",
            trading, "cancel_order",
            account_id=account,
            brokerage_order_id=working["brokerage_order_id"],
            **user,
        )
        await self.call(
            "POST /authorizations/{authorizationId}/refresh",
            connections, "refresh_brokerage_authorization",
            authorization_id=trade_connection,
            **user,
        )
        await self.call(
            "DELETE /connection/{connectionId}",
            connections, "delete_connection",
            connection_id=trade_connection,
            **user,
        )
        await self.call(
            "POST /snapTrade/resetUserSecret", auth, "reset_snap_trade_user_secret", **user
        )
        await self.call(
            "DELETE /snapTrade/deleteUser", auth, "delete_snap_trade_user", user_id=user_id
        )

    async def connect(self, user: dict[str, str], broker: str, connection_type: str) -> None:
        """The connection portal: SnapTrade's login URL, opened as a user's browser would."""
        login = await self.call(
            "POST /snapTrade/login",
            self.client.authentication, "login_snap_trade_user",
            broker=broker,
            connection_type=connection_type,
            **user,
        )
        with urllib.request.urlopen(login["redirectURI"], timeout=10) as portal:
            if portal.status != 200:
                raise CallFailed(f"the connection portal answered {portal.status}")


# ---------------------------------------------------------------------------------------------------------- Plaid


class PlaidCheck:
    """plaid-python against the Plaid sandbox."""

    def __init__(self, report: Report, sandbox: dict[str, str]) -> None:
        import plaid
        from plaid.api import plaid_api

        self.report = report
        configuration = plaid.Configuration(
            host=sandbox["base_url"],
            api_key={"clientId": sandbox["client_id"], "secret": sandbox["secret"]},
        )
        self.api_client = plaid.ApiClient(configuration)
        self.api = plaid_api.PlaidApi(self.api_client)

    def call(self, route: str, method: Callable[..., Any], request: Any) -> Any:
        """Sends `request` through the SDK, which builds its response model with type checks on; on a model
        error the raw answer (the SDK keeps it as `last_response`) still lets the run go on."""
        operation = method.__name__
        import plaid

        try:
            answer = method(request, _check_return_type=True)
        except plaid.ApiException as error:
            raise self.report.refused("plaid", operation, route, error) from error
        except Exception as error:
            self.report.record("plaid", operation, route, describe(error))
            return json.loads(self.api_client.last_response.data)
        self.report.record("plaid", operation, route, None)
        return answer.to_dict()

    def run(self) -> None:
        from plaid.model.accounts_get_request import AccountsGetRequest
        from plaid.model.country_code import CountryCode
        from plaid.model.investments_holdings_get_request import InvestmentsHoldingsGetRequest
        from plaid.model.investments_refresh_request import InvestmentsRefreshRequest
        from plaid.model.investments_transactions_get_request import InvestmentsTransactionsGetRequest
        from plaid.model.investments_transactions_get_request_options import (
            InvestmentsTransactionsGetRequestOptions,
        )
        from plaid.model.item_get_request import ItemGetRequest
        from plaid.model.item_public_token_exchange_request import ItemPublicTokenExchangeRequest
        from plaid.model.item_remove_request import ItemRemoveRequest
        from plaid.model.link_token_create_request import LinkTokenCreateRequest
        from plaid.model.link_token_create_request_user import LinkTokenCreateRequestUser
        from plaid.model.products import Products
        from plaid.model.sandbox_item_reset_login_request import SandboxItemResetLoginRequest
        from plaid.model.sandbox_public_token_create_request import SandboxPublicTokenCreateRequest

        api = self.api
        self.call(
            "POST /link/token/create",
            api.link_token_create,
            LinkTokenCreateRequest(
                client_name="Tributary",
                language="en",
                country_codes=[CountryCode("US")],
                user=LinkTokenCreateRequestUser(client_user_id="sdk-check"),
                products=[Products("investments")],
            ),
        )
        created = self.call(
            "POST /sandbox/public_token/create",
            api.sandbox_public_token_create,
            SandboxPublicTokenCreateRequest(
                institution_id="ins_109508", initial_products=[Products("investments")]
            ),
        )
        exchanged = self.call(
            "POST /item/public_token/exchange",
            api.item_public_token_exchange,
            ItemPublicTokenExchangeRequest(public_token=created["public_token"]),
        )
        token = exchanged["access_token"]
        self.call("POST /accounts/get", api.accounts_get, AccountsGetRequest(access_token=token))
        self.call(
            "POST /investments/holdings/get",
            api.investments_holdings_get,
            InvestmentsHoldingsGetRequest(access_token=token),
        )
        self.call(
            "POST /investments/transactions/get",
            api.investments_transactions_get,
            InvestmentsTransactionsGetRequest(
                access_token=token,
                start_date=datetime.date(2000, 1, 1),
                end_date=datetime.date(2100, 1, 1),
                options=InvestmentsTransactionsGetRequestOptions(count=500, offset=0),
            ),
        )
        self.call(
            "POST /investments/refresh",
            api.investments_refresh,
            InvestmentsRefreshRequest(access_token=token),
        )
        self.call(
            "POST /sandbox/item/reset_login",
            api.sandbox_item_reset_login,
            SandboxItemResetLoginRequest(access_token=token),
        )
        # With its login to repair, the Item shows its error: `ItemGetResponse.item.error`.
        self.call("POST /item/get", api.item_get, ItemGetRequest(access_token=token))
        self.call("POST /item/remove", api.item_remove, ItemRemoveRequest(access_token=token))


# --------------------------------------------------------------------------------------------------------- Alpaca


class AlpacaCheck:
    """alpaca-py's BrokerClient against the Alpaca Broker API sandbox."""

    def __init__(self, report: Report, sandbox: dict[str, str]) -> None:
        from alpaca.broker.client import BrokerClient

        class Recording(BrokerClient):
            """The SDK's client, remembering the last JSON it received, so a model error does not stop the run."""

            last_raw: Any = None

            def _request(self, *args: Any, **kwargs: Any) -> Any:
                self.last_raw = super()._request(*args, **kwargs)
                return self.last_raw

        self.report = report
        self.account = sandbox["default_account_id"]
        self.client = Recording(
            api_key=sandbox["key_id"],
            secret_key=sandbox["secret"],
            sandbox=True,
            url_override=sandbox["base_url"],
        )

    def call(self, route: str, method: Callable[..., Any], *arguments: Any) -> Any:
        operation = method.__name__
        from alpaca.common.exceptions import APIError

        self.client.last_raw = None
        try:
            method(*arguments)
        except APIError as error:
            raise self.report.refused("alpaca", operation, route, error) from error
        except Exception as error:
            self.report.record("alpaca", operation, route, describe(error))
            return self.client.last_raw
        self.report.record("alpaca", operation, route, None)
        return self.client.last_raw

    def run(self) -> None:
        from alpaca.broker.requests import LimitOrderRequest, MarketOrderRequest
        from alpaca.trading.enums import OrderSide, QueryOrderStatus, TimeInForce
        from alpaca.trading.requests import GetOrdersRequest

        client, account = self.client, self.account
        self.call("GET /v1/accounts", client.list_accounts)
        self.call("GET /v1/accounts/{account_id}", client.get_account_by_id, account)
        self.call(
            "GET /v1/trading/accounts/{account_id}/account",
            client.get_trade_account_by_id,
            account,
        )
        self.call(
            "GET /v1/trading/accounts/{account_id}/positions",
            client.get_all_positions_for_account,
            account,
        )
        orders = "POST /v1/trading/accounts/{account_id}/orders"
        market = self.call(
            orders,
            client.submit_order_for_account,
            account,
            MarketOrderRequest(
                symbol="AAPL",
                qty=1,
                side=OrderSide.BUY,
                time_in_force=TimeInForce.DAY,
                client_order_id=f"sdk-check-{uuid.uuid4()}",
            ),
        )
        limit_id = f"sdk-check-{uuid.uuid4()}"
        limit = self.call(
            orders,
            client.submit_order_for_account,
            account,
            LimitOrderRequest(
                symbol="MSFT",
                qty=2,
                side=OrderSide.BUY,
                time_in_force=TimeInForce.GTC,
                limit_price=1,
                client_order_id=limit_id,
            ),
        )
        # As Tributary lists them (legs rolled up under their multi-leg order), and flat (legs as orders).
        for nested in [True, False]:
            self.call(
                "GET /v1/trading/accounts/{account_id}/orders",
                client.get_orders_for_account,
                account,
                GetOrdersRequest(status=QueryOrderStatus.ALL, limit=500, nested=nested),
            )
        self.call(
            "GET /v1/trading/accounts/{account_id}/orders/{order_id}",
            client.get_order_for_account_by_id,
            account,
            market["id"],
        )
        self.call(
            "GET /v1/trading/accounts/{account_id}/orders:by_client_order_id",
            client.get_order_for_account_by_client_id,
            account,
            limit_id,
        )
        # 204 without a body: the SDK returns None, and only a refusal would be an error.
        self.call(
            "DELETE /v1/trading/accounts/{account_id}/orders/{order_id}",
            client.cancel_order_for_account_by_id,
            account,
            limit["id"],
        )


# ----------------------------------------------------------------------------------------------------------- main


def start_sandbox(command: list[str]) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """Starts the sandbox binary and reads the line of base URLs it prints once it listens."""
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.wait(timeout=10)
        raise SystemExit(f"sdk-models: the sandbox ({' '.join(command)}) exited before listening")
    return process, json.loads(line)


def main() -> int:
    if len(sys.argv) < 2:
        raise SystemExit("usage: check.py SANDBOX_BINARY [ARGS…]")
    process, sandboxes = start_sandbox(sys.argv[1:])
    report = Report()
    broken: list[str] = []
    try:
        for name, check in [
            ("snaptrade-python-sdk", lambda: asyncio.run(SnapTradeCheck(report, sandboxes["snaptrade"]).run())),
            ("plaid-python", lambda: PlaidCheck(report, sandboxes["plaid"]).run()),
            ("alpaca-py", lambda: AlpacaCheck(report, sandboxes["alpaca"]).run()),
        ]:
            print(f"{name} {version_of(name)}", flush=True)
            try:
                check()
            except CallFailed as failure:
                broken.append(f"{name}: stopped at {failure}")
            except Exception:
                broken.append(f"{name}: the check itself failed:\n{traceback.format_exc()}")
    finally:
        # Closing its stdin stops the sandbox.
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=10)

    print()
    failed = 0
    for sdk in ["snaptrade", "plaid", "alpaca"]:
        mine = [outcome for outcome in report.outcomes if outcome.sdk == sdk]
        refused = sum(outcome.refused for outcome in mine)
        rejected = sum(outcome.error is not None and not outcome.refused for outcome in mine)
        failed += refused + rejected
        print(f"{sdk}: {len(mine) - refused} answers, {rejected} rejected by the SDK's models; {refused} calls refused")
    for problem in broken:
        print(problem)
    if failed or broken:
        print("sdk-models: FAILED — the sandbox answered what the official SDKs cannot read (above)")
        return 1
    print("sdk-models: every answer read by the official SDKs' models")
    return 0


def version_of(distribution: str) -> str:
    from importlib.metadata import version

    return version(distribution)


if __name__ == "__main__":
    sys.exit(main())
