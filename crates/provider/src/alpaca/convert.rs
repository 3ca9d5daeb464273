//! Alpaca's payloads as domain types, and Alpaca as a [`Trading`] and [`BrokerageAccounts`] provider.
//!
//! Alpaca's decimal strings are already `Decimal`; here they are checked against the domain's column
//! shapes with the `exact` constructors: a quantity, a price or a cash balance is kept to the last digit or
//! refused, never rounded, and a value the domain refuses is [`ProviderError::InvalidData`] naming the
//! Alpaca field; in a list (positions, orders) that item alone is left out.
//!
//! Figures that are arithmetic are rounded to their column, as PostgreSQL would round them: an order's
//! estimated value worked out here, and the sums and products Alpaca works out itself from numbers kept
//! exactly. Those are `TradeAccount.equity` ("cash + long_market_value + short_market_value") and
//! `buying_power` ("max(equity-initial_margin(0) * 2)"), and a position's `market_value` and `cost_basis`,
//! which are its `qty` times `current_price` and `avg_entry_price` to the last digit (the spec's own position
//! example: 0.079145874 × 172.34 = `cost_basis: '13.63999992516'`, eleven decimals). Their decimals are a
//! quantity's plus a price's, more than any column keeps, so refusing them would leave out every fractional
//! position.

use async_trait::async_trait;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use tributary_domain::{
    AccountName, AccountType, BrokerageOrderId, DomainError, NewOrder as OrderRow, Notional,
    OrderAction, OrderStatus, Price, Provider, ProviderAccountId, Quantity, SecurityId,
    SecurityType, SignedAmount, Symbol, TimeInForce, Units,
};
use uuid::Uuid;

use super::orders::{
    self, AlpacaClientOrderId, AlpacaOrder, AlpacaOrderQuantity, AlpacaOrderQuery,
    AlpacaOrderRequest, AlpacaOrderSide, AlpacaOrderStatusFilter, AlpacaOrderType,
    AlpacaTimeInForce,
};
use super::wire::{self, TradeAccount};
use super::{AlpacaClient, BrokerAccountId};
use crate::capability::{
    AccountInfo, AccountRef, BrokerageAccounts, Listing, OrderImpact, OrderRequest, OrderScope,
    OrderSize, PageCursor, PlacedOrder, Position, PositionSide, Trading, TransactionPage,
    UnreadableItem, currency_code,
};
use crate::error::ProviderError;

#[async_trait]
impl Trading for AlpacaClient {
    /// Nothing: the client's Broker API credentials act for every customer account.
    type Login = ();

    fn provider(&self) -> Provider {
        Provider::Alpaca
    }

    /// Alpaca has no preview endpoint: the impact is worked out from the trading account's buying power
    /// and the order's own price (a market order's value is unknown without a quote, and says so).
    async fn order_impact(
        &self,
        _: &(),
        account: &AccountRef,
        order: &OrderRequest,
    ) -> Result<OrderImpact, ProviderError> {
        // An order Alpaca would refuse has no impact worth computing: say why now.
        alpaca_order(order)?;
        let balances = self
            .trading_account(&broker_account(&account.provider_account_id)?)
            .await?;
        impact(&balances, order)
    }

    async fn place_order(
        &self,
        _: &(),
        account: &AccountRef,
        order: &OrderRequest,
    ) -> Result<PlacedOrder, ProviderError> {
        let request = alpaca_order(order)?;
        let placed = self
            .submit_order(&broker_account(&account.provider_account_id)?, &request)
            .await?;
        order_row(account, &placed)
    }

    /// `GET /v1/trading/accounts/{account_id}/orders:by_client_order_id` (spec:
    /// `getOrderByClientOrderIdForAccount`, "Retrieves a single order specified by the client order ID";
    /// `'404': Resource does not exist`). Alpaca keeps `client_order_id` unique per account and looks it up
    /// whatever the order's age or status, so its 404 proves the order absent; any other failure proves
    /// nothing and is returned as it is.
    async fn find_order(
        &self,
        _: &(),
        account: &AccountRef,
        client_order_id: &tributary_domain::ClientOrderId,
    ) -> Result<Option<PlacedOrder>, ProviderError> {
        let id = AlpacaClientOrderId::parse(client_order_id.as_str())?;
        let found = self
            .order_by_client_order_id(&broker_account(&account.provider_account_id)?, &id)
            .await?;
        found.map(|order| order_row(account, &order)).transpose()
    }

    async fn cancel_order(
        &self,
        _: &(),
        account: &AccountRef,
        order: &BrokerageOrderId,
    ) -> Result<(), ProviderError> {
        let order_id = Uuid::parse_str(order.as_str())
            .map_err(|_| ProviderError::invalid_input("brokerage_order_id", "is not a UUID"))?;
        AlpacaClient::cancel_order(
            self,
            &broker_account(&account.provider_account_id)?,
            order_id,
        )
        .await
    }

    async fn list_orders(
        &self,
        _: &(),
        account: &AccountRef,
        scope: OrderScope,
    ) -> Result<Listing<PlacedOrder>, ProviderError> {
        let status = match scope {
            OrderScope::Open => AlpacaOrderStatusFilter::Open,
            OrderScope::Closed => AlpacaOrderStatusFilter::Closed,
            OrderScope::All => AlpacaOrderStatusFilter::All,
        };
        // `nested=true` (getAllOrdersForAccount: "roll up multi-leg orders under the legs field of primary
        // order"): a page never splits an order from its legs, and each leg is still recorded (order_rows).
        let query = AlpacaOrderQuery {
            status,
            limit: Some(orders::MAX_PAGE),
            nested: true,
            ..AlpacaOrderQuery::default()
        };
        let orders = self
            .raw_orders(&broker_account(&account.provider_account_id)?, &query)
            .await?;
        Ok(order_rows(account, orders))
    }
}

#[async_trait]
impl BrokerageAccounts for AlpacaClient {
    type Login = ();

    async fn brokerage_account(
        &self,
        _: &(),
        account: &ProviderAccountId,
    ) -> Result<AccountInfo, ProviderError> {
        let id = broker_account(account)?;
        let details = AlpacaClient::account(self, &id).await?;
        let balances = self.trading_account(&id).await?;
        account_info(&details, &balances)
    }

    async fn account_positions(
        &self,
        _: &(),
        account: &ProviderAccountId,
    ) -> Result<Listing<Position>, ProviderError> {
        // One by one: a position that does not parse is left out like one that cannot be recorded.
        let positions = self.raw_positions(&broker_account(account)?).await?;
        Ok(Listing::each(
            Provider::Alpaca,
            "position",
            positions.into_iter().enumerate(),
            |(_, raw)| raw["asset_id"].as_str().map(str::to_owned),
            |(index, raw)| {
                let position = serde_json::from_value::<wire::Position>(raw).map_err(|error| {
                    ProviderError::invalid_data(
                        Provider::Alpaca,
                        format!("positions[{index}].{}", serde_field(&error)),
                        error,
                    )
                })?;
                self::position(account, &position, index)
            },
        ))
    }

    /// The account's activities, newest first, 100 a page. Alpaca's listing selects by when it created each
    /// activity, typically the day after the trade, so the range asked is widened a day each side and a
    /// transaction can be dated just outside it; a fill's trade date is its day in New York, the exchange's
    /// calendar, which Alpaca's own activity ids are written in.
    async fn account_transactions(
        &self,
        _: &(),
        account: &ProviderAccountId,
        from: NaiveDate,
        to: NaiveDate,
        page: Option<PageCursor>,
    ) -> Result<TransactionPage, ProviderError> {
        super::activities::account_transactions(self, account, from, to, page).await
    }
}

/// An Alpaca value the domain refuses, named by its Alpaca field.
fn invalid(field: impl Into<String>) -> impl FnOnce(DomainError) -> ProviderError {
    let field = field.into();
    move |error| ProviderError::invalid_data(Provider::Alpaca, field, error)
}

fn broker_account(account: &ProviderAccountId) -> Result<BrokerAccountId, ProviderError> {
    BrokerAccountId::parse(account.as_str())
}

/// The order as Alpaca takes it; what Alpaca cannot express is refused naming the field. Numbers lose the
/// domain columns' trailing zeros (`2`, not `2.000000`).
pub(super) fn alpaca_order(order: &OrderRequest) -> Result<AlpacaOrderRequest, ProviderError> {
    let client_order_id = order
        .client_order_id()
        .map(|id| AlpacaClientOrderId::parse(id.as_str()))
        .transpose()?;
    Ok(AlpacaOrderRequest {
        symbol: order.symbol().as_str().to_owned(),
        side: side(order.action())?,
        order_type: order_type(order)?,
        time_in_force: time_in_force(order.time_in_force())?,
        quantity: match order.size() {
            OrderSize::Units(units) => AlpacaOrderQuantity::Units(units.get().normalize()),
            OrderSize::Notional(dollars) => {
                AlpacaOrderQuantity::Notional(dollars.get().normalize())
            }
        },
        extended_hours: false,
        client_order_id,
    })
}

/// Alpaca has two sides; shorting is selling what is not held, covering is buying it back.
fn side(action: &OrderAction) -> Result<AlpacaOrderSide, ProviderError> {
    match action {
        OrderAction::Buy | OrderAction::BuyToCover => Ok(AlpacaOrderSide::Buy),
        OrderAction::Sell | OrderAction::SellShort => Ok(AlpacaOrderSide::Sell),
        other => Err(ProviderError::invalid_input(
            "action",
            format!("Alpaca equity orders are buy or sell, not {other}"),
        )),
    }
}

fn order_type(order: &OrderRequest) -> Result<AlpacaOrderType, ProviderError> {
    use tributary_domain::OrderType;
    // OrderRequest's constructors guarantee the prices its type needs; a missing one here is still an error,
    // not a panic.
    let limit = || required_price("limit_price", order.limit_price());
    let stop = || required_price("stop_price", order.stop_price());
    match order.order_type() {
        OrderType::Market => Ok(AlpacaOrderType::Market),
        OrderType::Limit => Ok(AlpacaOrderType::Limit {
            limit_price: limit()?,
        }),
        OrderType::Stop => Ok(AlpacaOrderType::Stop {
            stop_price: stop()?,
        }),
        OrderType::StopLimit => Ok(AlpacaOrderType::StopLimit {
            stop_price: stop()?,
            limit_price: limit()?,
        }),
        other => Err(ProviderError::invalid_input(
            "order_type",
            format!("Tributary does not send {other} orders to Alpaca"),
        )),
    }
}

fn required_price(field: &'static str, price: Option<Price>) -> Result<Decimal, ProviderError> {
    // Without the column's trailing zeros: Alpaca echoes what it was sent.
    price
        .map(|price| price.get().normalize())
        .ok_or_else(|| ProviderError::invalid_input(field, "is required for this order type"))
}

fn time_in_force(time_in_force: &TimeInForce) -> Result<AlpacaTimeInForce, ProviderError> {
    match time_in_force {
        TimeInForce::Day => Ok(AlpacaTimeInForce::Day),
        TimeInForce::GoodTillCanceled => Ok(AlpacaTimeInForce::GoodTillCanceled),
        TimeInForce::AtTheOpen => Ok(AlpacaTimeInForce::AtOpen),
        TimeInForce::AtTheClose => Ok(AlpacaTimeInForce::AtClose),
        TimeInForce::ImmediateOrCancel => Ok(AlpacaTimeInForce::ImmediateOrCancel),
        TimeInForce::FillOrKill => Ok(AlpacaTimeInForce::FillOrKill),
        other => Err(ProviderError::invalid_input(
            "time_in_force",
            format!("Alpaca does not take {other}"),
        )),
    }
}

/// An Alpaca order as the row Tributary records, with Alpaca's JSON kept as `raw_order_data`; an order that
/// cannot be recorded is [`ProviderError::InvalidData`] naming the field and why.
pub(super) fn order_row(
    account: &AccountRef,
    order: &AlpacaOrder,
) -> Result<OrderRow, ProviderError> {
    row_of(account, &order.order, &order.raw, None)
}

/// The rows of a list of orders, item by item: each order, then each of its nested legs (an order of its
/// own at Alpaca, with its own id). An order that does not parse or cannot be recorded is left out with its
/// Alpaca id, the field and why, and the others are still returned.
pub(super) fn order_rows(
    account: &AccountRef,
    orders: Vec<serde_json::Value>,
) -> Listing<OrderRow> {
    let mut listing = Listing::default();
    let add =
        |listing: &mut Listing<OrderRow>, id: Uuid, row: Result<OrderRow, ProviderError>| match row
        {
            Ok(row) => listing.items.push(row),
            Err(error) => listing.left_out.push(UnreadableItem::because(
                Provider::Alpaca,
                "order",
                Some(id.to_string()),
                &error,
            )),
        };
    for raw in orders {
        let order = match serde_json::from_value::<wire::Order>(raw.clone()) {
            Ok(order) => order,
            Err(error) => {
                listing.left_out.push(undecodable(&raw, &error));
                continue;
            }
        };
        add(&mut listing, order.id, row_of(account, &order, &raw, None));
        for (index, leg) in order.legs.iter().flatten().enumerate() {
            let row = row_of(account, leg, &raw["legs"][index], Some(&order));
            add(&mut listing, leg.id, row);
        }
    }
    listing
}

/// An order whose JSON does not fit the spec's `Order` (an id that is not a UUID, a number that is not one):
/// left out with whatever id it carries, and the field serde names.
fn undecodable(raw: &serde_json::Value, error: &serde_json::Error) -> UnreadableItem {
    UnreadableItem {
        provider: Provider::Alpaca,
        item: "order",
        provider_id: raw["id"].as_str().map(str::to_owned),
        field: serde_field(error),
        reason: error.to_string(),
    }
}

/// The field a serde error names (`missing field `qty``), or `*` when it names none.
pub(super) fn serde_field(error: &serde_json::Error) -> String {
    let message = error.to_string();
    message
        .split('`')
        .nth(1)
        .filter(|_| message.contains("field"))
        .unwrap_or("*")
        .to_owned()
}

/// One order (or a leg of `parent`): a leg's empty type, time in force, status and times are its parent's,
/// as the spec's multi-leg example shows (`legs[].type: ''` under a `limit` parent).
pub(super) fn row_of(
    account: &AccountRef,
    wire: &wire::Order,
    raw: &serde_json::Value,
    parent: Option<&wire::Order>,
) -> Result<OrderRow, ProviderError> {
    let brokerage_order_id =
        BrokerageOrderId::parse(&wire.id.to_string()).map_err(invalid("id"))?;
    let symbol = order_symbol(wire)?;
    // A multi-leg order has no side of its own (`side: ''`); its class (`mleg`) is kept in its place.
    let side = wire
        .side
        .as_deref()
        .or(wire.order_class.as_deref())
        .ok_or_else(|| missing("side"))?;
    let action = OrderAction::parse(side).map_err(invalid("side"))?;
    let order_type = wire
        .order_type()
        .or(parent.and_then(wire::Order::order_type))
        .ok_or_else(|| missing("type"))?;
    let order_type = tributary_domain::OrderType::parse(order_type).map_err(invalid("type"))?;
    let status = wire
        .status
        .as_deref()
        .or(parent.and_then(|parent| parent.status.as_deref()))
        .ok_or_else(|| missing("status"))?;
    let status = OrderStatus::parse(status).map_err(invalid("status"))?;
    let placed_at = wire
        .submitted()
        .or(wire.updated_at)
        .or(parent.and_then(wire::Order::submitted))
        .ok_or_else(|| missing("submitted_at"))?;
    let mut row = OrderRow::new(
        account.user_id,
        account.account_id,
        brokerage_order_id,
        symbol,
        action,
        order_type,
        status,
        placed_at,
    );
    row.time_in_force = wire
        .time_in_force
        .as_deref()
        .or(parent.and_then(|parent| parent.time_in_force.as_deref()))
        .map(|text| TimeInForce::parse(text).map_err(invalid("time_in_force")))
        .transpose()?;
    // Never rounded: crypto quantities have up to 9 decimals and `units` keeps 10; one with more decimals
    // than its column keeps is refused naming the field, and the order left out.
    row.units = optional(wire.qty, "qty", Units::exact_for)?;
    row.notional_value = optional(wire.notional, "notional", Notional::exact_for)?;
    row.limit_price = optional(wire.limit_price, "limit_price", Price::exact_for)?;
    row.stop_price = optional(wire.stop_price, "stop_price", Price::exact_for)?;
    row.filled_units = optional(wire.filled_qty, "filled_qty", Units::exact_for)?;
    row.average_fill_price = optional(wire.filled_avg_price, "filled_avg_price", Price::exact_for)?;
    row.filled_at = wire.filled_at;
    row.cancelled_at = wire.canceled_at;
    row.raw_order_data = Some(raw.clone());
    Ok(row)
}

/// The order's symbol; a multi-leg order's is empty (the spec's `MultilegOptionsOrderResponse`), and it is
/// recorded under its legs' symbols joined by `/`. Without a symbol or legs it cannot be recorded.
fn order_symbol(wire: &wire::Order) -> Result<Symbol, ProviderError> {
    if !wire.symbol.trim().is_empty() {
        return Symbol::parse(&wire.symbol).map_err(invalid("symbol"));
    }
    let legs: Vec<&str> = wire
        .legs
        .iter()
        .flatten()
        .map(|leg| leg.symbol.trim())
        .filter(|symbol| !symbol.is_empty())
        .collect();
    if legs.is_empty() {
        return Err(ProviderError::invalid_data(
            Provider::Alpaca,
            "symbol",
            "is empty and the order lists no legs with symbols (a multi-leg order read without `nested`)",
        ));
    }
    Symbol::parse(&legs.join("/")).map_err(invalid("symbol"))
}

fn missing(field: &'static str) -> ProviderError {
    ProviderError::invalid_data(Provider::Alpaca, field, "is missing or empty")
}

fn optional<T>(
    value: Option<Decimal>,
    field: &'static str,
    build: fn(&'static str, Decimal) -> Result<T, DomainError>,
) -> Result<Option<T>, ProviderError> {
    value
        .map(|value| build(field, value).map_err(invalid(field)))
        .transpose()
}

/// Alpaca's amount, exactly (a cash balance).
fn amount(
    value: Option<Decimal>,
    field: &'static str,
) -> Result<Option<SignedAmount>, ProviderError> {
    optional(value, field, SignedAmount::exact_for)
}

/// An amount Alpaca works out from others (equity, buying power), rounded to the column (module docs).
fn arithmetic(
    value: Option<Decimal>,
    field: &'static str,
) -> Result<Option<SignedAmount>, ProviderError> {
    optional(value, field, SignedAmount::new_for)
}

/// The customer's account with its balances.
pub(super) fn account_info(
    account: &wire::Account,
    balances: &TradeAccount,
) -> Result<AccountInfo, ProviderError> {
    let account_type = account.account_type.as_deref().unwrap_or("trading");
    Ok(AccountInfo {
        provider: Provider::Alpaca,
        provider_account_id: ProviderAccountId::parse(&account.id.to_string())
            .map_err(invalid("id"))?,
        provider_connection_id: None,
        institution: None,
        name: account
            .account_number
            .as_deref()
            .map(|number| AccountName::parse(number).map_err(invalid("account_number")))
            .transpose()?,
        account_type: AccountType::parse(account_type).map_err(invalid("account_type"))?,
        account_subtype: None,
        total_value: arithmetic(Some(balances.equity), "equity")?,
        cash: amount(Some(balances.cash), "cash")?,
        currency: currency_code(
            Provider::Alpaca,
            "currency",
            [Some(balances.currency.as_str())],
        )?,
    })
}

/// A position; Alpaca reports shorts with a `short` side (and, in practice, a negative quantity and value),
/// which the domain keeps as positive numbers with [`PositionSide::Short`].
pub(super) fn position(
    account: &ProviderAccountId,
    position: &wire::Position,
    index: usize,
) -> Result<Position, ProviderError> {
    let at = |field: &str| format!("positions[{index}].{field}");
    let side = if position.side.eq_ignore_ascii_case("short") || position.qty.is_sign_negative() {
        PositionSide::Short
    } else {
        PositionSide::Long
    };
    // qty × current_price and qty × avg_entry_price, Alpaca's arithmetic: rounded to the column (module docs).
    let product = |value: Option<Decimal>, field: &'static str| {
        value
            .map(|value| SignedAmount::new_for(field, value.abs()).map_err(invalid(at(field))))
            .transpose()
    };
    Ok(Position {
        provider_account_id: account.clone(),
        symbol: Symbol::parse(&position.symbol).map_err(invalid(at("symbol")))?,
        security_id: Some(
            SecurityId::parse(&position.asset_id.to_string()).map_err(invalid(at("asset_id")))?,
        ),
        security_name: None,
        security_type: position.asset_class.as_deref().map(SecurityType::classify),
        provider_security_type: position.asset_class.clone(),
        option_contract: None,
        side,
        // Never rounded: Alpaca's crypto quantities have up to 9 decimals and the column keeps 10; one with
        // more is refused naming the field, and the position left out.
        quantity: Quantity::exact_for("qty", position.qty.abs()).map_err(invalid(at("qty")))?,
        price: position
            .current_price
            .map(|price| {
                Price::exact_for("current_price", price).map_err(invalid(at("current_price")))
            })
            .transpose()?,
        market_value: product(position.market_value, "market_value")?,
        cost_basis: product(position.cost_basis, "cost_basis")?,
        currency: None,
    })
}

/// What the order would do to the account's buying power.
pub(super) fn impact(
    balances: &TradeAccount,
    order: &OrderRequest,
) -> Result<OrderImpact, ProviderError> {
    let mut warnings = blocked_warnings(balances);
    let estimated_value = estimated_value(order);
    if estimated_value.is_none() {
        warnings.push("a market order's value is unknown until it fills".to_owned());
    }
    let buys = matches!(order.action(), OrderAction::Buy | OrderAction::BuyToCover);
    let remaining = estimated_value
        .filter(|_| buys)
        .map(|value| balances.buying_power - value);
    if remaining.is_some_and(|left| left.is_sign_negative()) {
        warnings.push("the order exceeds the account's buying power".to_owned());
    }
    // The estimate and what it leaves are worked out here, not Alpaca's numbers: rounded to the column.
    let worked_out = |value: Option<Decimal>, field: &'static str| {
        value
            .map(|value| SignedAmount::new_for(field, value))
            .transpose()
            .map_err(|error| ProviderError::invalid_input("order", error.to_string()))
    };
    Ok(OrderImpact {
        trade_id: None,
        estimated_value: worked_out(estimated_value, "estimated_value")?,
        estimated_fees: None,
        buying_power: arithmetic(Some(balances.buying_power), "buying_power")?,
        remaining_buying_power: worked_out(remaining, "remaining_buying_power")?,
        warnings,
    })
}

/// Units × the order's own price, or its dollar amount; unknown for a market order in units.
fn estimated_value(order: &OrderRequest) -> Option<Decimal> {
    match order.size() {
        OrderSize::Notional(dollars) => Some(dollars.get()),
        OrderSize::Units(units) => order
            .limit_price()
            .or(order.stop_price())
            .map(|price| units.get() * price.get()),
    }
}

fn blocked_warnings(balances: &TradeAccount) -> Vec<String> {
    [
        (balances.account_blocked, "the account is blocked"),
        (
            balances.trading_blocked,
            "trading is blocked on the account",
        ),
        (
            balances.trade_suspended_by_user,
            "the user suspended trading",
        ),
    ]
    .into_iter()
    .filter(|(blocked, _)| *blocked)
    .map(|(_, warning)| warning.to_owned())
    .collect()
}

#[cfg(test)]
mod tests {
    use tributary_domain::{OrderAction, OrderType, Symbol, Units};

    use super::*;
    use crate::capability::OrderSize;

    #[test]
    fn a_trailing_stop_is_refused_naming_the_order_type() {
        // No public constructor builds a trailing stop; this guards the conversion should one appear.
        // `place_order` converts before it sends, so nothing reaches Alpaca.
        let trailing = OrderRequest::checked(
            Symbol::parse("AAPL").unwrap(),
            OrderAction::Sell,
            OrderType::TrailingStop,
            OrderSize::Units(Units::parse("1").unwrap()),
            None,
            None,
        )
        .unwrap();
        let error = alpaca_order(&trailing).unwrap_err();
        assert!(
            matches!(
                error,
                ProviderError::InvalidInput {
                    field: "order_type",
                    ..
                }
            ),
            "{error:?}"
        );
    }
}
