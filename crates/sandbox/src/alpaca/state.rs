//! What the Alpaca Broker sandbox remembers: accounts with cash and positions, and their orders.

use chrono::{DateTime, SecondsFormat, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use uuid::Uuid;

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
}

/// An order of an account.
#[derive(Debug, Clone)]
pub(crate) struct Order {
    pub(crate) id: Uuid,
    pub(crate) account: Uuid,
    pub(crate) client_order_id: String,
    pub(crate) asset: Uuid,
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

    /// Opens an ACTIVE account with `cash` and `positions` positions (the catalogue, then `ALP0005`…).
    pub(crate) fn open_account(&mut self, cash: Decimal, positions: usize) -> Uuid {
        let positions = (0..positions)
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
            cash,
            positions,
            created: Utc::now(),
        };
        let id = account.id;
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
        let (account_id, asset_id) = (self.orders[index].account, self.orders[index].asset);
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

pub(crate) fn trade_account_json(state: &AlpacaState, account: &Account) -> Value {
    let long = state.market_value(account);
    let equity = account.cash + long;
    json!({
        "id": account.id,
        "account_number": account.account_number,
        "status": "ACTIVE",
        "crypto_status": "INACTIVE",
        "currency": "USD",
        "cash": decimal_text(account.cash),
        "buying_power": decimal_text(account.cash),
        "regt_buying_power": decimal_text(account.cash),
        "daytrading_buying_power": "0",
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
        "daytrade_count": 0,
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
    })
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

pub(crate) fn order_json(state: &AlpacaState, order: &Order) -> Value {
    json!({
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
        "asset_id": order.asset,
        "symbol": state.asset(order.asset).map(|asset| asset.symbol.clone()),
        "asset_class": "us_equity",
        "notional": order.notional.map(decimal_text),
        "qty": order.qty.map(decimal_text),
        "filled_qty": decimal_text(order.filled_qty),
        "filled_avg_price": order.filled_avg_price.map(decimal_text),
        "order_class": "",
        "order_type": order.order_type,
        "type": order.order_type,
        "side": order.side,
        "time_in_force": order.time_in_force,
        "limit_price": order.limit_price.map(decimal_text),
        "stop_price": order.stop_price.map(decimal_text),
        "status": order.status,
        "extended_hours": order.extended_hours,
        "legs": null,
        "trail_percent": null,
        "trail_price": null,
        "hwm": null,
        "commission": "0",
        "source": null,
        "subtag": null
    })
}
