//! What the Alpaca Broker sandbox remembers: accounts with cash and positions, and their orders.

use chrono::{DateTime, SecondsFormat, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use uuid::Uuid;

use super::SeedAccount;
use crate::knobs::MarketFill;
use crate::reply::decimal_text;

/// A tradable asset.
#[derive(Debug, Clone)]
pub(crate) struct Asset {
    pub(crate) id: Uuid,
    pub(crate) symbol: String,
    pub(crate) exchange: &'static str,
    pub(crate) price: Decimal,
}

/// A position of an account.
#[derive(Debug, Clone)]
pub(crate) struct Position {
    pub(crate) asset: Uuid,
    pub(crate) qty: Decimal,
    pub(crate) avg_entry_price: Decimal,
}

/// A broker customer's account.
#[derive(Debug, Clone)]
pub(crate) struct Account {
    pub(crate) id: Uuid,
    pub(crate) account_number: String,
    pub(crate) cash: Decimal,
    pub(crate) positions: Vec<Position>,
    pub(crate) created: DateTime<Utc>,
    /// How many activities its history holds (see [`super::history`]).
    pub(crate) activities: usize,
}

/// What an order trades.
#[derive(Debug, Clone)]
pub(crate) enum Instrument {
    /// One asset of the catalogue: a simple order.
    Asset(Uuid),
    /// A multi-leg options order (`order_class: mleg`): the legs name the contracts and sides; the order itself
    /// has none (alpaca-broker-api.yaml `components.examples.MultilegOptionsOrderResponse`: `asset_id: ''`,
    /// `symbol: ''`, `side: ''`).
    Legs(Vec<Leg>),
}

/// One leg of a multi-leg order: an option contract bought or sold, filled with its order.
#[derive(Debug, Clone)]
pub(crate) struct Leg {
    pub(crate) id: Uuid,
    pub(crate) client_order_id: String,
    pub(crate) asset_id: Uuid,
    pub(crate) symbol: &'static str,
    pub(crate) side: &'static str,
    pub(crate) position_intent: &'static str,
    pub(crate) ratio_qty: Decimal,
    pub(crate) filled_avg_price: Decimal,
    /// When the leg's day order would have expired.
    pub(crate) expires_at: DateTime<Utc>,
}

/// An order of an account.
#[derive(Debug, Clone)]
pub(crate) struct Order {
    pub(crate) id: Uuid,
    pub(crate) account: Uuid,
    pub(crate) client_order_id: String,
    pub(crate) instrument: Instrument,
    /// Whether the order is part of the account's seeded history rather than placed through the API.
    pub(crate) seeded: bool,
    pub(crate) side: String,
    pub(crate) order_type: String,
    pub(crate) time_in_force: String,
    pub(crate) qty: Option<Decimal>,
    pub(crate) notional: Option<Decimal>,
    pub(crate) limit_price: Option<Decimal>,
    pub(crate) stop_price: Option<Decimal>,
    pub(crate) extended_hours: bool,
    pub(crate) status: &'static str,
    pub(crate) filled_qty: Decimal,
    pub(crate) filled_avg_price: Option<Decimal>,
    pub(crate) created: DateTime<Utc>,
    pub(crate) updated: DateTime<Utc>,
    pub(crate) filled_at: Option<DateTime<Utc>>,
    pub(crate) canceled_at: Option<DateTime<Utc>>,
}

impl Order {
    /// The asset of a simple order; `None` for a multi-leg order.
    pub(crate) fn asset(&self) -> Option<Uuid> {
        match self.instrument {
            Instrument::Asset(asset) => Some(asset),
            Instrument::Legs(_) => None,
        }
    }

    /// Whether the order can still fill or be cancelled.
    pub(crate) fn is_open(&self) -> bool {
        matches!(
            self.status,
            "new" | "accepted" | "pending_new" | "partially_filled"
        )
    }
}

/// The Alpaca world.
#[derive(Debug)]
pub(crate) struct AlpacaState {
    pub(crate) assets: Vec<Asset>,
    pub(crate) accounts: Vec<Account>,
    pub(crate) orders: Vec<Order>,
    pub(crate) market_fill: MarketFill,
    /// Every order change, for `GET /v2/events/trades`.
    pub(crate) trade_events: super::events::TradeEventLog,
    next_account_number: u64,
}

impl AlpacaState {
    pub(crate) fn new() -> Self {
        let catalogue = [
            ("AAPL", "NASDAQ", 19050),
            ("MSFT", "NASDAQ", 41025),
            ("TSLA", "NASDAQ", 24000),
            ("SPY", "ARCA", 52030),
            ("VTI", "ARCA", 26510),
        ];
        let assets = catalogue
            .iter()
            .enumerate()
            .map(|(index, &(symbol, exchange, cents))| Asset {
                id: Uuid::from_u128(0xa1ba_0000_0000_4000_8000_0000_0000_0000 + index as u128),
                symbol: symbol.to_owned(),
                exchange,
                price: Decimal::new(cents, 2),
            })
            .collect();
        Self {
            assets,
            accounts: Vec::new(),
            orders: Vec::new(),
            market_fill: MarketFill::Immediate,
            trade_events: super::events::TradeEventLog::default(),
            next_account_number: 901_000_000,
        }
    }

    pub(crate) fn asset(&self, id: Uuid) -> Option<&Asset> {
        self.assets.iter().find(|asset| asset.id == id)
    }

    pub(crate) fn asset_by_symbol(&self, symbol: &str) -> Option<&Asset> {
        self.assets
            .iter()
            .find(|asset| asset.symbol.eq_ignore_ascii_case(symbol))
    }

    pub(crate) fn account(&self, id: Uuid) -> Option<&Account> {
        self.accounts.iter().find(|account| account.id == id)
    }

    /// Opens an ACTIVE account as `seed` says: its cash, its positions (the catalogue, then `ALP0005`…) and, if
    /// asked, the spec's multi-leg order in its history.
    pub(crate) fn open_account(&mut self, seed: &SeedAccount) -> Uuid {
        let positions = (0..seed.positions)
            .map(|slot| {
                let asset = self.asset_for_slot(slot);
                let price = self.asset(asset).map_or(Decimal::ONE, |found| found.price);
                Position {
                    asset,
                    qty: Decimal::from(5 + slot as u64),
                    avg_entry_price: (price * Decimal::new(85, 2)).round_dp(2),
                }
            })
            .collect();
        self.next_account_number += 1;
        let account = Account {
            id: Uuid::new_v4(),
            account_number: self.next_account_number.to_string(),
            cash: seed.cash,
            positions,
            created: Utc::now(),
            activities: seed.activities,
        };
        let id = account.id;
        if seed.multileg_order {
            self.orders.push(multileg_history(id, account.created));
        }
        self.accounts.push(account);
        id
    }

    fn asset_for_slot(&mut self, slot: usize) -> Uuid {
        if let Some(asset) = self.assets.get(slot) {
            return asset.id;
        }
        let symbol = format!("ALP{slot:04}");
        if let Some(asset) = self.asset_by_symbol(&symbol) {
            return asset.id;
        }
        let asset = Asset {
            id: Uuid::from_u128(0xa1ba_0001_0000_4000_8000_0000_0000_0000 + slot as u128),
            symbol,
            exchange: "NYSE",
            price: Decimal::from(20 + (slot % 300) as u64) + Decimal::new(50, 2),
        };
        let id = asset.id;
        self.assets.push(asset);
        id
    }

    /// Fills order `index` at the asset's price, moving cash and the position.
    pub(crate) fn fill(&mut self, index: usize) {
        let now = Utc::now();
        let account_id = self.orders[index].account;
        // Only simple orders wait to fill: the multi-leg orders are seeded history, filled already.
        let Some(asset_id) = self.orders[index].asset() else {
            return;
        };
        let price = self
            .asset(asset_id)
            .map_or(Decimal::ONE, |asset| asset.price);
        let order = &mut self.orders[index];
        let qty = order
            .qty
            .unwrap_or_else(|| (order.notional.unwrap_or_default() / price).round_dp(9));
        order.status = "filled";
        order.filled_qty = qty;
        order.filled_avg_price = Some(price);
        order.filled_at = Some(now);
        order.updated = now;
        let signed = if order.side == "buy" { qty } else { -qty };
        let Some(account) = self
            .accounts
            .iter_mut()
            .find(|account| account.id == account_id)
        else {
            return;
        };
        account.cash -= (signed * price).round_dp(2);
        match account
            .positions
            .iter_mut()
            .find(|position| position.asset == asset_id)
        {
            Some(position) if signed > Decimal::ZERO => {
                let cost = position.qty * position.avg_entry_price + signed * price;
                position.qty += signed;
                position.avg_entry_price = (cost / position.qty).round_dp(4);
            }
            Some(position) => position.qty += signed,
            None => account.positions.push(Position {
                asset: asset_id,
                qty: signed,
                avg_entry_price: price,
            }),
        }
        account.positions.retain(|position| !position.qty.is_zero());
        self.record_trade_event(index, "fill");
    }

    fn market_value(&self, account: &Account) -> Decimal {
        account
            .positions
            .iter()
            .map(|position| {
                position.qty
                    * self
                        .asset(position.asset)
                        .map_or(Decimal::ZERO, |asset| asset.price)
            })
            .sum()
    }
}

/// Alpaca's timestamp text, RFC 3339 with nanoseconds.
fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

pub(crate) fn account_json(account: &Account) -> Value {
    json!({
        "id": account.id,
        "account_number": account.account_number,
        "status": "ACTIVE",
        "crypto_status": "INACTIVE",
        "currency": "USD",
        "last_equity": decimal_text(account.cash),
        "created_at": timestamp(account.created),
        "account_type": "trading",
        "enabled_assets": ["us_equity"],
        "contact": {
            "email_address": format!("customer-{}@example.com", account.account_number),
            "phone_number": "+15555555555",
            "street_address": ["20 N San Mateo Dr"],
            "city": "San Mateo",
            "state": "CA",
            "postal_code": "94401",
            "country": "USA"
        },
        // `components.schemas.Identity.required`: given_name, family_name, date_of_birth, tax_id_type,
        // country_of_tax_residence, funding_source; values as in `AccountExtended`'s x-examples (with
        // `USA_SSN` from the `tax_id_type` vocabulary, where the example misspells it `USA_SNN`).
        "identity": {
            "given_name": "Sandbox",
            "family_name": "Customer",
            "date_of_birth": "1990-01-01",
            "tax_id_type": "USA_SSN",
            "country_of_tax_residence": "USA",
            "funding_source": ["employment_income"]
        }
    })
}

/// The last regular session's close before `now`, as `TradeAccount.previous_close`'s example writes it
/// (`2021-04-01T19:00:00-04:00`, the hour of the `-04:00` offset kept as the spec has it): yesterday's date.
fn previous_close(now: DateTime<Utc>) -> String {
    let day = now.date_naive() - chrono::Duration::days(1);
    format!("{day}T19:00:00-04:00")
}

pub(crate) fn trade_account_json(state: &AlpacaState, account: &Account) -> Value {
    let long = state.market_value(account);
    let equity = account.cash + long;
    let mut rendered = json!({
        "id": account.id,
        "account_number": account.account_number,
        "status": "ACTIVE",
        "crypto_status": "INACTIVE",
        "currency": "USD",
        "cash": decimal_text(account.cash),
        "buying_power": decimal_text(account.cash),
        "regt_buying_power": decimal_text(account.cash),
        "non_marginable_buying_power": decimal_text(account.cash),
        "equity": decimal_text(equity),
        "last_equity": decimal_text(equity),
        "long_market_value": decimal_text(long),
        "short_market_value": "0",
        "position_market_value": decimal_text(long),
        "portfolio_value": decimal_text(equity),
        "cash_withdrawable": decimal_text(account.cash),
        "multiplier": "1",
        "initial_margin": "0",
        "maintenance_margin": "0",
        "sma": "0",
        "pattern_day_trader": false,
        "trading_blocked": false,
        "transfers_blocked": false,
        "account_blocked": false,
        "trade_suspended_by_user": false,
        "shorting_enabled": false,
        "accrued_fees": "0",
        "pending_transfer_in": "0",
        "created_at": timestamp(account.created),
        // `components.schemas.TradeAccount.required` also lists these: `admin_configurations` (an object
        // of overrides; none are set on a sandbox account), `effective_buying_power` ("duplicate of buying
        // power"), `last_maintenance_margin` (no margin is used) and `balance_asof` ("The date of the
        // snapshot for `last_*` fields": today's, since `last_equity` is the current equity).
        "admin_configurations": {},
        "effective_buying_power": decimal_text(account.cash),
        "last_maintenance_margin": "0",
        "balance_asof": Utc::now().date_naive().to_string()
    });
    let snapshot = json!({
        // alpaca-py 0.44.0 `alpaca.broker.models.accounts.TradeAccount` requires these keys (`Optional[…]` with no
        // default: present, maybe null), which the Broker spec lists without requiring (`TradeAccount.properties`,
        // values as its `x-examples`): the `last_*` snapshot of the previous close is today's figures, as
        // `last_equity` is; `previous_close` "Previous sessions close time"; `clearing_broker` as example-2
        // writes it (`VELOX`, a value of the SDK's `ClearingBroker`). `daytrading_buying_power` and
        // `daytrade_count` are not sent: the SDK notes them "removed from Alpaca responses on 2026-07-06
        // (FINRA intraday-margin migration)", and the spec lists neither.
        "cash_transferable": decimal_text(account.cash),
        "previous_close": previous_close(Utc::now()),
        "last_long_market_value": decimal_text(long),
        "last_short_market_value": "0",
        "last_cash": decimal_text(account.cash),
        "last_initial_margin": "0",
        "last_regt_buying_power": decimal_text(account.cash),
        "last_buying_power": decimal_text(account.cash),
        "clearing_broker": "VELOX"
    });
    if let (Value::Object(rendered), Value::Object(snapshot)) = (&mut rendered, snapshot) {
        rendered.extend(snapshot);
    }
    rendered
}

pub(crate) fn position_json(state: &AlpacaState, position: &Position) -> Value {
    let asset = state.asset(position.asset);
    let price = asset.map_or(Decimal::ZERO, |asset| asset.price);
    let market_value = position.qty * price;
    let cost_basis = position.qty * position.avg_entry_price;
    let lastday = (price * Decimal::new(99, 2)).round_dp(2);
    let plpc = if cost_basis.is_zero() {
        Decimal::ZERO
    } else {
        ((market_value - cost_basis) / cost_basis).round_dp(4)
    };
    json!({
        "asset_id": position.asset,
        "symbol": asset.map(|asset| asset.symbol.clone()),
        "exchange": asset.map_or("", |asset| asset.exchange),
        "asset_class": "us_equity",
        "asset_marginable": true,
        "avg_entry_price": decimal_text(position.avg_entry_price),
        "qty": decimal_text(position.qty),
        "qty_available": decimal_text(position.qty),
        "side": if position.qty.is_sign_negative() { "short" } else { "long" },
        "market_value": decimal_text(market_value),
        "cost_basis": decimal_text(cost_basis),
        "unrealized_pl": decimal_text(market_value - cost_basis),
        "unrealized_plpc": decimal_text(plpc),
        "unrealized_intraday_pl": decimal_text(position.qty * (price - lastday)),
        "unrealized_intraday_plpc": "0.0101",
        "current_price": decimal_text(price),
        "lastday_price": decimal_text(lastday),
        "change_today": "0.0101"
    })
}

/// An order as the Broker API renders it (`components.schemas.Order`); a multi-leg order with its legs under
/// `legs` (as `nested=true` lists it, and as a single order is always shown).
pub(crate) fn order_json(state: &AlpacaState, order: &Order) -> Value {
    let mut rendered = json!({
        "id": order.id,
        "client_order_id": order.client_order_id,
        "created_at": timestamp(order.created),
        "updated_at": timestamp(order.updated),
        "submitted_at": timestamp(order.created),
        "filled_at": order.filled_at.map(timestamp),
        "expired_at": null,
        "canceled_at": order.canceled_at.map(timestamp),
        "failed_at": null,
        "replaced_at": null,
        "replaced_by": null,
        "replaces": null,
        "notional": order.notional.map(decimal_text),
        "qty": order.qty.map(decimal_text),
        "filled_qty": decimal_text(order.filled_qty),
        "filled_avg_price": order.filled_avg_price.map(decimal_text),
        "order_type": order.order_type,
        "type": order.order_type,
        "time_in_force": order.time_in_force,
        "limit_price": order.limit_price.map(decimal_text),
        "stop_price": order.stop_price.map(decimal_text),
        "status": order.status,
        "extended_hours": order.extended_hours,
        "trail_percent": null,
        "trail_price": null,
        "hwm": null,
        "source": null,
        "subtag": null
    });
    let shape = match &order.instrument {
        Instrument::Asset(asset) => json!({
            "asset_id": asset,
            "symbol": state.asset(*asset).map(|asset| asset.symbol.clone()),
            "asset_class": "us_equity",
            "order_class": "",
            "side": order.side,
            "legs": null,
            "commission": "0"
        }),
        // As `MultilegOptionsOrderResponse` has it, though `Order.asset_id` is `format: uuid` and `AssetClass`,
        // `OrderSide` list no empty value: the spec's own example is what the API sends.
        Instrument::Legs(legs) => json!({
            "asset_id": "",
            "symbol": "",
            "asset_class": "",
            "order_class": "mleg",
            "side": "",
            "legs": legs.iter().map(|leg| leg_json(order, leg)).collect::<Vec<_>>()
        }),
    };
    if let (Value::Object(rendered), Value::Object(shape)) = (&mut rendered, shape) {
        rendered.extend(shape);
    }
    rendered
}

/// A leg of a multi-leg order, shaped as `MultilegOptionsOrderResponse`'s legs: `order_class: mleg`,
/// `order_type: ''` and `type: ''` (the leg has no type of its own), its contract, side, intent and ratio.
pub(crate) fn leg_json(order: &Order, leg: &Leg) -> Value {
    let qty = order.qty.unwrap_or(Decimal::ONE) * leg.ratio_qty;
    json!({
        "id": leg.id,
        "client_order_id": leg.client_order_id,
        "created_at": timestamp(order.created),
        "updated_at": timestamp(order.updated),
        "submitted_at": timestamp(order.created),
        "filled_at": order.filled_at.map(timestamp),
        "expired_at": null,
        "expires_at": timestamp(leg.expires_at),
        "canceled_at": null,
        "failed_at": null,
        "replaced_at": null,
        "replaced_by": null,
        "replaces": null,
        "asset_id": leg.asset_id,
        "symbol": leg.symbol,
        "asset_class": "us_option",
        "notional": null,
        "qty": decimal_text(qty),
        "ratio_qty": decimal_text(leg.ratio_qty),
        "filled_qty": decimal_text(if order.status == "filled" { qty } else { Decimal::ZERO }),
        "filled_avg_price": decimal_text(leg.filled_avg_price),
        "order_class": "mleg",
        "order_type": "",
        "type": "",
        "side": leg.side,
        "position_intent": leg.position_intent,
        "time_in_force": order.time_in_force,
        "limit_price": null,
        "stop_price": null,
        "status": order.status,
        "extended_hours": false,
        "legs": null,
        "trail_percent": null,
        "trail_price": null,
        "hwm": null,
        "source": null,
        "subtag": null
    })
}

/// The multi-leg options order of an account's seeded history, drawn from alpaca-broker-api.yaml
/// `components.examples.MultilegOptionsOrderResponse`: a filled one-lot limit call spread at `10` (filled at
/// `1.28`), buying three AAPL 250 calls to open and selling one 260 call to open, each leg at the example's
/// contract, ratio and price; placed the day before the account was opened (filled 17 ms and last updated
/// 48 ms after, as in the example).
fn multileg_history(account: Uuid, opened: DateTime<Utc>) -> Order {
    let created = opened - chrono::Duration::days(1);
    let at = |millis| created + chrono::Duration::milliseconds(millis);
    let expires_at = created
        .date_naive()
        .and_hms_opt(21, 0, 0)
        .map_or(created, |close| close.and_utc());
    let leg = |asset_id, symbol, side, position_intent, ratio: i64, price: Decimal| Leg {
        id: Uuid::new_v4(),
        client_order_id: Uuid::new_v4().to_string(),
        asset_id,
        symbol,
        side,
        position_intent,
        ratio_qty: Decimal::from(ratio),
        filled_avg_price: price,
        expires_at,
    };
    Order {
        id: Uuid::new_v4(),
        account,
        client_order_id: Uuid::new_v4().to_string(),
        instrument: Instrument::Legs(vec![
            leg(
                Uuid::from_u128(0xf0ea14b2_8a49_4e9b_89d1_894c6e518a76),
                "AAPL241213C00250000",
                "buy",
                "buy_to_open",
                3,
                Decimal::new(43, 2),
            ),
            leg(
                Uuid::from_u128(0xf89940db_eeb1_46e6_8f9b_bb1f27a0b395),
                "AAPL241213C00260000",
                "sell",
                "sell_to_open",
                1,
                Decimal::new(1, 2),
            ),
        ]),
        seeded: true,
        side: String::new(),
        order_type: "limit".to_owned(),
        time_in_force: "day".to_owned(),
        qty: Some(Decimal::ONE),
        notional: None,
        limit_price: Some(Decimal::from(10)),
        stop_price: None,
        extended_hours: false,
        status: "filled",
        filled_qty: Decimal::ONE,
        filled_avg_price: Some(Decimal::new(128, 2)),
        created,
        updated: at(48),
        filled_at: Some(at(17)),
        canceled_at: None,
    }
}
