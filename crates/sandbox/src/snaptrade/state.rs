//! What the SnapTrade sandbox remembers, and how each thing looks on the wire.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use uuid::Uuid;

use super::SeedConnection;
use crate::knobs::MarketFill;
use crate::reply::{decimal_text, number};

/// A `type: number` field as SnapTrade's Python server writes it: a float, so always with a fraction or an
/// exponent (`10000.0`, never `10000`). snaptrade-python-sdk 13.0.49 refuses an integer literal there: json
/// reads it as an `int`, and its number models (`NumberBase` with `DecimalMixin`/`NoneDecimalMixin`) admit only
/// the `Decimal` a float becomes ("Got int(10000) for required type Decimal"). Written from the decimal text, so
/// no digit is lost to `f64`.
pub(crate) fn float(value: Decimal) -> Value {
    match number(value) {
        Value::Number(written) if !written.to_string().contains(['.', 'e', 'E']) => {
            serde_json::Number::from_str(&format!("{written}.0")).map_or(Value::Null, Value::Number)
        }
        other => other,
    }
}

/// A security the sandbox can trade and hold.
#[derive(Debug, Clone)]
pub(crate) struct Symbol {
    pub(crate) id: Uuid,
    pub(crate) ticker: String,
    pub(crate) name: String,
    /// `stock` or `etf` (the position instrument's `kind`).
    pub(crate) kind: &'static str,
    pub(crate) price: Decimal,
    pub(crate) currency: &'static str,
    pub(crate) exchange: &'static str,
}

/// The symbols every sandbox starts with.
pub(crate) fn catalogue() -> Vec<Symbol> {
    let rows: [(&str, &str, &str, i64, u32, &str, &str); 7] = [
        ("AAPL", "Apple Inc.", "stock", 19050, 2, "USD", "XNAS"),
        (
            "MSFT",
            "Microsoft Corporation",
            "stock",
            41025,
            2,
            "USD",
            "XNAS",
        ),
        ("TSLA", "Tesla, Inc.", "stock", 24000, 2, "USD", "XNAS"),
        (
            "VTI",
            "Vanguard Total Stock Market ETF",
            "etf",
            26510,
            2,
            "USD",
            "ARCX",
        ),
        (
            "SPY",
            "SPDR S&P 500 ETF Trust",
            "etf",
            52030,
            2,
            "USD",
            "ARCX",
        ),
        ("SHOP.TO", "Shopify Inc.", "stock", 10500, 2, "CAD", "XTSE"),
        // snaptrade-openapi.yaml `Symbol`'s examples: `symbol: VAB.TO`, `raw_symbol: VAB`, `description:
        // VANGUARD CDN AGGREGATE BOND INDEX ETF`, listed on the TSX and quoted in Canadian dollars.
        (
            "VAB.TO",
            "VANGUARD CDN AGGREGATE BOND INDEX ETF",
            "etf",
            2321,
            2,
            "CAD",
            "XTSE",
        ),
    ];
    rows.iter()
        .enumerate()
        .map(
            |(index, &(ticker, name, kind, price, scale, currency, exchange))| Symbol {
                id: Uuid::from_u128(0x5a4d_0000_0000_4000_8000_0000_0000_0000 + index as u128),
                ticker: ticker.to_owned(),
                name: name.to_owned(),
                kind,
                price: Decimal::new(price, scale),
                currency,
                exchange,
            },
        )
        .collect()
}

/// An option contract held in a position.
#[derive(Debug, Clone)]
pub(crate) struct OptionContract {
    pub(crate) id: Uuid,
    pub(crate) underlying: Uuid,
    pub(crate) option_type: &'static str,
    pub(crate) strike: Decimal,
    pub(crate) expiration: NaiveDate,
    pub(crate) price: Decimal,
}

/// One position of an account.
#[derive(Debug, Clone)]
pub(crate) enum Holding {
    Security {
        symbol: Uuid,
        units: Decimal,
        cost_basis: Decimal,
    },
    Option {
        contract: OptionContract,
        units: Decimal,
        cost_basis: Decimal,
    },
}

/// A started connection-portal session, completed by fetching its URL.
#[derive(Debug, Clone)]
pub(crate) struct PortalSession {
    pub(crate) user_id: String,
    pub(crate) broker: String,
    pub(crate) connection_type: String,
    pub(crate) reconnect: Option<Uuid>,
    pub(crate) created: DateTime<Utc>,
}

/// A brokerage authorization (a connection).
#[derive(Debug, Clone)]
pub(crate) struct Authorization {
    pub(crate) id: Uuid,
    pub(crate) user_id: String,
    pub(crate) broker: String,
    pub(crate) connection_type: String,
    pub(crate) disabled: bool,
    pub(crate) disabled_date: Option<DateTime<Utc>>,
    pub(crate) created: DateTime<Utc>,
    pub(crate) updated: DateTime<Utc>,
    pub(crate) refreshes: u32,
}

/// A brokerage account under an authorization.
#[derive(Debug, Clone)]
pub(crate) struct Account {
    pub(crate) id: Uuid,
    pub(crate) authorization_id: Uuid,
    pub(crate) user_id: String,
    pub(crate) name: String,
    pub(crate) number: String,
    pub(crate) cash: Decimal,
    pub(crate) currency: &'static str,
    pub(crate) holdings: Vec<Holding>,
    /// How many generated activities (history before the sandbox started) the account has.
    pub(crate) activities: u64,
    pub(crate) created: DateTime<Utc>,
}

/// An order placed through the sandbox.
#[derive(Debug, Clone)]
pub(crate) struct Order {
    pub(crate) id: Uuid,
    pub(crate) account_id: Uuid,
    pub(crate) client_order_id: Option<String>,
    pub(crate) symbol: Uuid,
    pub(crate) action: String,
    pub(crate) order_type: String,
    pub(crate) time_in_force: String,
    pub(crate) units: Decimal,
    pub(crate) limit_price: Option<Decimal>,
    pub(crate) stop_price: Option<Decimal>,
    pub(crate) status: &'static str,
    pub(crate) filled_units: Decimal,
    pub(crate) canceled_units: Decimal,
    pub(crate) execution_price: Option<Decimal>,
    pub(crate) placed: DateTime<Utc>,
    pub(crate) updated: DateTime<Utc>,
    pub(crate) executed: Option<DateTime<Utc>>,
}

impl Order {
    /// Whether the order can still fill or be cancelled.
    pub(crate) fn is_open(&self) -> bool {
        matches!(self.status, "PENDING" | "ACCEPTED" | "PARTIAL")
    }
}

/// A checked order, priced by getOrderImpact and waiting for placeOrder (valid five minutes).
#[derive(Debug, Clone)]
pub(crate) struct PendingTrade {
    pub(crate) user_id: String,
    pub(crate) order: Order,
    pub(crate) created: DateTime<Utc>,
}

/// The whole SnapTrade world.
#[derive(Debug)]
pub(crate) struct SnapState {
    pub(crate) users: BTreeMap<String, String>,
    pub(crate) sessions: HashMap<String, PortalSession>,
    pub(crate) authorizations: Vec<Authorization>,
    pub(crate) accounts: Vec<Account>,
    pub(crate) orders: Vec<Order>,
    pub(crate) trades: HashMap<Uuid, PendingTrade>,
    pub(crate) symbols: Vec<Symbol>,
    pub(crate) market_fill: MarketFill,
    next_account_number: u64,
}

impl Default for SnapState {
    fn default() -> Self {
        Self {
            users: BTreeMap::new(),
            sessions: HashMap::new(),
            authorizations: Vec::new(),
            accounts: Vec::new(),
            orders: Vec::new(),
            trades: HashMap::new(),
            symbols: catalogue(),
            market_fill: MarketFill::default(),
            next_account_number: 6_542_138_443,
        }
    }
}

impl SnapState {
    pub(crate) fn symbol(&self, id: Uuid) -> Option<&Symbol> {
        self.symbols.iter().find(|symbol| symbol.id == id)
    }

    pub(crate) fn symbol_by_ticker(&self, ticker: &str) -> Option<&Symbol> {
        self.symbols
            .iter()
            .find(|symbol| symbol.ticker.eq_ignore_ascii_case(ticker))
    }

    pub(crate) fn authorization(&self, id: Uuid) -> Option<&Authorization> {
        self.authorizations
            .iter()
            .find(|authorization| authorization.id == id)
    }

    pub(crate) fn account(&self, id: Uuid) -> Option<&Account> {
        self.accounts.iter().find(|account| account.id == id)
    }

    /// Adds an authorization for `user_id` as `seed` describes it.
    pub(crate) fn connect(&mut self, user_id: &str, seed: &SeedConnection) -> (Uuid, Vec<Uuid>) {
        let now = Utc::now();
        let authorization = Authorization {
            id: Uuid::new_v4(),
            user_id: user_id.to_owned(),
            broker: seed.broker.clone(),
            connection_type: seed.connection_type.clone(),
            disabled: false,
            disabled_date: None,
            created: now,
            updated: now,
            refreshes: 0,
        };
        let authorization_id = authorization.id;
        self.authorizations.push(authorization);
        let account_ids = (0..seed.accounts)
            .map(|index| self.open_account(user_id, authorization_id, index, seed))
            .collect();
        (authorization_id, account_ids)
    }

    fn open_account(
        &mut self,
        user_id: &str,
        authorization_id: Uuid,
        index: usize,
        seed: &SeedConnection,
    ) -> Uuid {
        let mut holdings: Vec<Holding> = (0..seed.positions_per_account)
            .map(|slot| self.seed_holding(slot))
            .collect();
        if seed.with_option && index == 0 {
            holdings.push(self.option_holding());
        }
        self.next_account_number += 1;
        let account = Account {
            id: Uuid::new_v4(),
            authorization_id,
            user_id: user_id.to_owned(),
            name: if index == 0 {
                "Individual".to_owned()
            } else {
                format!("Individual {}", index + 1)
            },
            number: format!("Q{}", self.next_account_number),
            cash: Decimal::new(1_000_000, 2) * Decimal::from(index as u64 + 1),
            currency: "USD",
            holdings,
            activities: seed.activities_per_account,
            created: Utc::now(),
        };
        let id = account.id;
        self.accounts.push(account);
        id
    }

    /// The `slot`-th seeded position: the catalogue first, then synthetic tickers `SBX0006`…. The third is the
    /// spec's own example symbol, VAB.TO, held in Canadian dollars in a US-dollar account (`AccountPosition.
    /// currency`: "ISO-4217 currency code for the position `price` and `cost_basis`"), so a connection of three
    /// positions or more is not kinder than the spec: one of its figures is in another currency.
    fn seed_holding(&mut self, slot: usize) -> Holding {
        let catalogue = ["AAPL", "VTI", "VAB.TO", "MSFT", "SPY", "TSLA"];
        let symbol = match catalogue.get(slot) {
            Some(ticker) => self.symbol_by_ticker(ticker).map(|symbol| symbol.id),
            None => None,
        }
        .unwrap_or_else(|| self.synthetic_symbol(slot));
        let units = Decimal::from(10 + slot as u64) + Decimal::new(5, 1);
        let price = self
            .symbol(symbol)
            .map_or(Decimal::ONE, |found| found.price);
        Holding::Security {
            symbol,
            units,
            cost_basis: (price * Decimal::new(9, 1)).round_dp(2),
        }
    }

    fn synthetic_symbol(&mut self, slot: usize) -> Uuid {
        let ticker = format!("SBX{slot:04}");
        if let Some(existing) = self.symbol_by_ticker(&ticker) {
            return existing.id;
        }
        let symbol = Symbol {
            id: Uuid::from_u128(0x5a4d_0001_0000_4000_8000_0000_0000_0000 + slot as u128),
            name: format!("Sandbox Synthetic {slot}"),
            ticker,
            kind: "stock",
            price: Decimal::from(10 + (slot % 500) as u64) + Decimal::new(25, 2),
            currency: "USD",
            exchange: "XNYS",
        };
        let id = symbol.id;
        self.symbols.push(symbol);
        id
    }

    fn option_holding(&self) -> Holding {
        let underlying = self
            .symbol_by_ticker("AAPL")
            .map_or(Uuid::nil(), |symbol| symbol.id);
        Holding::Option {
            contract: OptionContract {
                id: Uuid::new_v4(),
                underlying,
                option_type: "CALL",
                strike: Decimal::from(240),
                expiration: NaiveDate::from_ymd_opt(2026, 12, 18).unwrap_or_default(),
                price: Decimal::new(1235, 2),
            },
            units: Decimal::from(2),
            cost_basis: Decimal::new(1010, 2),
        }
    }

    /// Market value of the positions plus cash, in the account's currency (`Account.balance.total`), a position
    /// quoted in another currency converted at [`USD_PER_CAD`].
    pub(crate) fn account_total(&self, account: &Account) -> Decimal {
        let positions: Decimal = account
            .holdings
            .iter()
            .map(|holding| match holding {
                Holding::Security { symbol, units, .. } => {
                    let (price, currency) = self
                        .symbol(*symbol)
                        .map_or((Decimal::ZERO, account.currency), |found| {
                            (found.price, found.currency)
                        });
                    in_currency(*units * price, currency, account.currency)
                }
                Holding::Option {
                    contract, units, ..
                } => *units * contract.price * Decimal::from(100),
            })
            .sum();
        (positions + account.cash).round_dp(2)
    }

    /// Executes `order` at the symbol's price (or its limit, if better) and moves units and cash.
    pub(crate) fn execute(&mut self, order_index: usize) {
        let now = Utc::now();
        let (account_id, symbol_id, units, is_buy) = {
            let order = &self.orders[order_index];
            (
                order.account_id,
                order.symbol,
                order.units,
                order.action.starts_with("BUY"),
            )
        };
        let price = self
            .symbol(symbol_id)
            .map_or(Decimal::ONE, |symbol| symbol.price);
        let order = &mut self.orders[order_index];
        order.status = "EXECUTED";
        order.filled_units = units;
        order.execution_price = Some(price);
        order.updated = now;
        order.executed = Some(now);
        let Some(account) = self
            .accounts
            .iter_mut()
            .find(|account| account.id == account_id)
        else {
            return;
        };
        let signed_units = if is_buy { units } else { -units };
        account.cash -= (signed_units * price).round_dp(2);
        let held = account
            .holdings
            .iter_mut()
            .find_map(|holding| match holding {
                Holding::Security { symbol, units, .. } if *symbol == symbol_id => Some(units),
                _ => None,
            });
        match held {
            Some(held_units) => *held_units += signed_units,
            None => account.holdings.push(Holding::Security {
                symbol: symbol_id,
                units: signed_units,
                cost_basis: price,
            }),
        }
    }

    /// Drops portal sessions and checked trades older than five minutes, as SnapTrade's expire.
    pub(crate) fn forget_expired(&mut self) {
        let cutoff = Utc::now() - Duration::minutes(5);
        self.sessions.retain(|_, session| session.created > cutoff);
        self.trades.retain(|_, trade| trade.created > cutoff);
    }
}

/// What one Canadian dollar is worth in US dollars in the sandbox, to value a CAD position in a USD account's
/// total (the spec is silent on SnapTrade's rate; a fixed one keeps the sandbox deterministic).
pub(crate) const USD_PER_CAD: Decimal = Decimal::from_parts(73, 0, 0, false, 2);

/// `amount` in `from` expressed in `to` (USD and CAD are the sandbox's currencies).
fn in_currency(amount: Decimal, from: &str, to: &str) -> Decimal {
    match (from, to) {
        ("CAD", "USD") => amount * USD_PER_CAD,
        ("USD", "CAD") => amount / USD_PER_CAD,
        _ => amount,
    }
}

/// SnapTrade's timestamp text, e.g. `2024-07-23T22:04:29.185Z`.
pub(crate) fn timestamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Deterministic UUID for a brokerage slug, so every answer names the brokerage the same way.
fn brokerage_id(slug: &str) -> Uuid {
    let seed = slug.bytes().fold(0u128, |hash, byte| {
        hash.wrapping_mul(131).wrapping_add(u128::from(byte))
    });
    Uuid::from_u128(0x5a4d_0002_0000_4000_8000_0000_0000_0000 ^ (seed & 0xffff_ffff_ffff))
}

fn brokerage_name(slug: &str) -> String {
    let mut name = slug.to_lowercase().replace('_', " ");
    if let Some(first) = name.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    name
}

pub(crate) fn brokerage_json(slug: &str) -> Value {
    let name = brokerage_name(slug);
    json!({
        "id": brokerage_id(slug),
        "slug": slug,
        "name": name,
        "display_name": name,
        "description": format!("{name} (SnapTrade sandbox)"),
        "aws_s3_logo_url": "https://passiv-brokerage-logos.s3.ca-central-1.amazonaws.com/logo.png",
        "aws_s3_square_logo_url": "https://passiv-brokerage-logos.s3.ca-central-1.amazonaws.com/square.png",
        "url": "https://example.com",
        "enabled": true,
        "maintenance_mode": false,
        "is_degraded": false,
        "allows_trading": true,
        "allows_fractional_units": true,
        "has_reporting": true,
        "is_real_time_connection": true,
        "brokerage_type": {"id": "66a0d5a6-3bd7-4ad0-8f1d-4a6d58c5ee2c", "name": "Traditional Brokerage"}
    })
}

pub(crate) fn authorization_json(authorization: &Authorization) -> Value {
    json!({
        "id": authorization.id,
        "created_date": timestamp(authorization.created),
        "updated_date": timestamp(authorization.updated),
        "brokerage": brokerage_json(&authorization.broker),
        "name": format!("Connection-{}", &authorization.id.simple().to_string()[..8]),
        "type": authorization.connection_type,
        "disabled": authorization.disabled,
        "disabled_date": authorization.disabled_date.map(timestamp),
        // The newer shape wins over the string of specs/snaptrade-openapi.yaml (`BrokerageAuthorization.
        // data_freshness_mode`, `type: string`): snaptrade-python-sdk 13.0.49's `BrokerageAuthorizationDataFreshnessMode`
        // is an object, `required: [institution, snaptrade]`, each `realtime` or `delayed` ("The two values are
        // independent; the connection's data is effectively delayed if either value is `delayed`").
        "data_freshness_mode": {"institution": "realtime", "snaptrade": "realtime"},
        "is_eligible_for_payout": false,
        "meta": {}
    })
}

pub(crate) fn account_json(state: &SnapState, account: &Account) -> Value {
    let authorization = state.authorization(account.authorization_id);
    let institution = authorization.map_or_else(
        || "Unknown".to_owned(),
        |authorization| brokerage_name(&authorization.broker),
    );
    // `HoldingsSyncStatusDate` is `format: date-time` though its example writes a space for the `T`
    // (specs/snaptrade-openapi.yaml, components/schemas/HoldingsSyncStatusDate): the format wins.
    let synced = account
        .created
        .format("%Y-%m-%dT%H:%M:%S%.6f+00:00")
        .to_string();
    // `Account.opening_date`/`funding_date`: `format: date-time`, "Only populated for brokerages that expose
    // this data (Tastytrade, eToro, moomoo, Public, and Unlok); `null` for all other brokerages".
    let dated = authorization.is_some_and(|authorization| {
        ["TASTYTRADE", "ETORO", "MOOMOO", "PUBLIC", "UNLOK"]
            .contains(&authorization.broker.to_ascii_uppercase().as_str())
    });
    let (opening_date, funding_date) = if dated {
        (
            Some("2021-01-01T14:30:00.000000Z"),
            Some("2021-01-04T14:30:00.000000Z"),
        )
    } else {
        (None, None)
    };
    json!({
        "id": account.id,
        "brokerage_authorization": account.authorization_id,
        "portfolio_group": Uuid::from_u128(account.id.as_u128() ^ 1),
        "name": format!("{institution} {}", account.name),
        "number": account.number,
        "institution_name": institution,
        "institution_account_id": account.number,
        "created_date": timestamp(account.created),
        "opening_date": opening_date,
        "funding_date": funding_date,
        "sync_status": {
            "transactions": {
                "initial_sync_completed": true,
                "last_successful_sync": account.created.format("%Y-%m-%d").to_string(),
                "first_transaction_date": "2021-01-04"
            },
            "holdings": {"initial_sync_completed": true, "last_successful_sync": synced, "holdings_unavailable": false}
        },
        "balance": {"total": {"amount": float(state.account_total(account)), "currency": account.currency}},
        "status": "open",
        "raw_type": "Margin",
        "account_category": "INVESTMENT",
        "is_paper": false,
        "meta": {"type": "Margin", "status": "ACTIVE", "institution_name": institution},
        "cash_restrictions": []
    })
}

pub(crate) fn balances_json(account: &Account) -> Value {
    json!([{
        "currency": currency_json(account.currency),
        "cash": float(account.cash),
        "buying_power": float(account.cash)
    }])
}

fn currency_json(code: &str) -> Value {
    let (id, name) = match code {
        "CAD" => ("87b24961-b51e-4db8-9226-f198f6518a89", "Canadian Dollar"),
        _ => ("57f81c53-bdda-45a7-a51f-032afd1ae41b", "US Dollar"),
    };
    json!({"id": id, "code": code, "name": name})
}

/// A security as a V2 position instrument (`kind` stock or etf).
fn instrument_json(symbol: &Symbol) -> Value {
    json!({
        "kind": symbol.kind,
        "id": symbol.id,
        "symbol": symbol.ticker,
        "raw_symbol": symbol.ticker.split('.').next().unwrap_or(&symbol.ticker),
        "description": symbol.name,
        "currency": symbol.currency,
        "exchange": symbol.exchange,
        "figi_instrument": null
    })
}

pub(crate) fn positions_json(state: &SnapState, account: &Account) -> Value {
    let results: Vec<Value> = account
        .holdings
        .iter()
        .filter_map(|holding| match holding {
            Holding::Security { symbol, units, cost_basis } => state.symbol(*symbol).map(|symbol| {
                json!({
                    "instrument": instrument_json(symbol),
                    "units": decimal_text(*units),
                    "price": decimal_text(symbol.price),
                    "cost_basis": decimal_text(*cost_basis),
                    "currency": symbol.currency,
                    "cash_equivalent": false
                })
            }),
            Holding::Option { contract, units, cost_basis } => {
                let underlying = state.symbol(contract.underlying)?;
                let occ = format!(
                    "{:<6}{}{}{:08}",
                    underlying.ticker,
                    contract.expiration.format("%y%m%d"),
                    &contract.option_type[..1],
                    (contract.strike * Decimal::from(1000)).trunc()
                );
                Some(json!({
                    "instrument": {
                        "kind": "option",
                        "id": contract.id,
                        "symbol": occ,
                        "option_type": contract.option_type,
                        "strike_price": decimal_text(contract.strike),
                        "expiration_date": contract.expiration.to_string(),
                        "multiplier": "100",
                        "description": format!("{} {} {} {}", underlying.ticker,
                            contract.expiration.format("%b %d %Y"), contract.strike, contract.option_type),
                        "underlying": instrument_json(underlying)
                    },
                    "units": decimal_text(*units),
                    "price": decimal_text(contract.price),
                    "cost_basis": decimal_text(*cost_basis),
                    "currency": underlying.currency
                }))
            }
        })
        .collect();
    json!({"results": results, "data_freshness": {"as_of": timestamp(Utc::now())}})
}

pub(crate) fn universal_symbol_json(symbol: &Symbol) -> Value {
    let (type_id, code, description) = match symbol.kind {
        "etf" => ("7b5f3e2d-9a1c-4c1e-8f0e-2d3b4a5c6d7e", "et", "ETF"),
        _ => ("2bcd7cc3-e922-4976-bce1-9858296801c3", "cs", "Common Stock"),
    };
    json!({
        "id": symbol.id,
        "symbol": symbol.ticker,
        "raw_symbol": symbol.ticker.split('.').next().unwrap_or(&symbol.ticker),
        "description": symbol.name,
        "currency": currency_json(symbol.currency),
        "exchange": {
            "id": "2bcd7cc3-e922-4976-bce1-9858296801c3",
            "code": symbol.exchange,
            "mic_code": symbol.exchange,
            "name": symbol.exchange,
            "timezone": "America/New_York",
            "start_time": "09:30:00",
            "close_time": "16:00:00",
            "suffix": null
        },
        "type": {"id": type_id, "code": code, "description": description, "is_supported": true},
        "figi_code": null,
        "figi_instrument": null,
        "currencies": [currency_json(symbol.currency)]
    })
}

pub(crate) fn order_json(state: &SnapState, order: &Order) -> Value {
    let open = if order.is_open() {
        order.units - order.filled_units
    } else {
        Decimal::ZERO
    };
    json!({
        "brokerage_order_id": order.id.to_string(),
        "status": order.status,
        "universal_symbol": state.symbol(order.symbol).map(universal_symbol_json),
        "option_symbol": null,
        "quote_universal_symbol": null,
        "quote_currency": null,
        "action": order.action,
        "total_quantity": decimal_text(order.units),
        "open_quantity": decimal_text(open),
        "canceled_quantity": decimal_text(order.canceled_units),
        "filled_quantity": decimal_text(order.filled_units),
        "execution_price": order.execution_price.map(decimal_text),
        "limit_price": order.limit_price.map(decimal_text),
        "stop_price": order.stop_price.map(decimal_text),
        "order_type": order.order_type,
        "time_in_force": order.time_in_force,
        "time_placed": timestamp(order.placed),
        "time_updated": timestamp(order.updated),
        "time_executed": order.executed.map(timestamp),
        "expiry_date": null,
        "symbol": order.symbol,
        "child_brokerage_order_ids": null
    })
}

/// One line of an account's history: an order the sandbox executed, or generated history.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Activity<'a> {
    Executed(&'a Order),
    Generated(u64),
}

/// One account's generated history, newest first, repeating: eight purchases (one a dividend reinvested,
/// `REI`) for three sales, three dividends and the tax withheld on one, interest, two contributions and a
/// withdrawal, and a fee. The types are snaptrade-openapi.yaml `AccountUniversalActivity.type`'s "most popular
/// values".
const ACTIVITY_CYCLE: [&str; 20] = [
    "BUY",
    "DIVIDEND",
    "BUY",
    "SELL",
    "CONTRIBUTION",
    "BUY",
    "INTEREST",
    "BUY",
    "FEE",
    "SELL",
    "BUY",
    "DIVIDEND",
    "WITHDRAWAL",
    "BUY",
    "SELL",
    "REI",
    "CONTRIBUTION",
    "TAX",
    "BUY",
    "DIVIDEND",
];

/// One generated activity in this many is a stock split (`SPLIT`: "A stock share split") instead of its
/// cycle's type: an account of several hundred activities has one, a year or so back.
pub(crate) const SPLIT_EVERY: u64 = 400;
const SPLIT_AT: u64 = 200;

/// The type of generated activity `index`.
pub(crate) fn generated_activity_type(index: u64) -> &'static str {
    if index % SPLIT_EVERY == SPLIT_AT {
        "SPLIT"
    } else {
        ACTIVITY_CYCLE[(index % ACTIVITY_CYCLE.len() as u64) as usize]
    }
}

/// When the account's generated history happened: up to the day before the account was created, back over
/// about two years.
pub(crate) fn activity_spread(account: &Account) -> crate::spread::Spread {
    crate::spread::Spread {
        count: account.activities,
        newest: account.created.date_naive() - Duration::days(1),
    }
}

/// The securities generated activities trade, with the units held: the account's stock and ETF positions.
fn traded_symbols<'a>(state: &'a SnapState, account: &Account) -> Vec<(&'a Symbol, Decimal)> {
    account
        .holdings
        .iter()
        .filter_map(|holding| match holding {
            Holding::Security { symbol, units, .. } => {
                state.symbol(*symbol).map(|found| (found, *units))
            }
            Holding::Option { .. } => None,
        })
        .collect()
}

/// A generated activity's figures, signed as `AccountUniversalActivity.amount` says "In general": cash in
/// positive, cash out negative. `units` are positive into the account and negative out of it (the spec leaves
/// their sign open); a dividend's are the shares it was paid on, its `price` the dividend per share.
struct Figures<'a> {
    symbol: Option<&'a Symbol>,
    units: Decimal,
    price: Decimal,
    /// `None` for a split: "nullable", and no cash moved.
    amount: Option<Decimal>,
    fee: Decimal,
}

fn generated_figures<'a>(state: &'a SnapState, account: &Account, index: u64) -> Figures<'a> {
    let kind = generated_activity_type(index);
    let symbols = traded_symbols(state, account);
    let picked = (!symbols.is_empty()).then(|| symbols[(index as usize / 2) % symbols.len()]);
    let symbol = match kind {
        "CONTRIBUTION" | "WITHDRAWAL" | "INTEREST" | "FEE" => None,
        _ => picked.map(|(symbol, _)| symbol),
    };
    let held = picked.map_or(Decimal::TEN, |(_, units)| units);
    // The price moves within ±10 % of today's over the history.
    let price = symbol.map_or(Decimal::ZERO, |symbol| {
        (symbol.price * Decimal::from(90 + (index * 7) % 21) / Decimal::ONE_HUNDRED).round_dp(2)
    });
    let commission = if index.is_multiple_of(3) {
        Decimal::new(495, 2)
    } else {
        Decimal::ZERO
    };
    let per_share = Decimal::new(24 + (index % 5) as i64, 2);
    let dividend = (held * per_share).round_dp(2);
    let cash = |amount: Decimal| Figures {
        symbol,
        units: Decimal::ZERO,
        price: Decimal::ZERO,
        amount: Some(amount),
        fee: Decimal::ZERO,
    };
    match kind {
        "BUY" => {
            let units = Decimal::from(index % 9 + 1);
            Figures {
                symbol,
                units,
                price,
                amount: Some(-((units * price).round_dp(2) + commission)),
                fee: commission,
            }
        }
        "SELL" => {
            let units = Decimal::from(index % 5 + 1);
            Figures {
                symbol,
                units: -units,
                price,
                amount: Some((units * price).round_dp(2) - commission),
                fee: commission,
            }
        }
        "DIVIDEND" => Figures {
            symbol,
            units: held,
            price: per_share,
            amount: Some(dividend),
            fee: Decimal::ZERO,
        },
        "REI" => {
            let units = if price.is_zero() {
                Decimal::ZERO
            } else {
                (dividend / price).round_dp(6)
            };
            Figures {
                symbol,
                units,
                price,
                amount: Some(-(units * price).round_dp(2)),
                fee: Decimal::ZERO,
            }
        }
        "SPLIT" => Figures {
            symbol,
            units: held,
            price: Decimal::ZERO,
            amount: None,
            fee: Decimal::ZERO,
        },
        "TAX" => cash(-(dividend * Decimal::new(15, 2)).round_dp(2)),
        "CONTRIBUTION" => cash(Decimal::from(250 * (index % 4 + 1))),
        "WITHDRAWAL" => cash(-Decimal::from(200 + 50 * (index % 5))),
        "INTEREST" => cash(Decimal::new(100 + (index % 250) as i64, 2)),
        _ => cash(-Decimal::new(2500, 2)),
    }
}

pub(crate) fn activity_json(state: &SnapState, account: &Account, activity: Activity<'_>) -> Value {
    let institution = state.authorization(account.authorization_id).map_or_else(
        || "Unknown".to_owned(),
        |authorization| brokerage_name(&authorization.broker),
    );
    let (id, kind, figures, traded_at) = match activity {
        Activity::Executed(order) => {
            let price = order.execution_price.unwrap_or_default();
            let is_sell = order.action.starts_with("SELL");
            let units = if is_sell {
                -order.filled_units
            } else {
                order.filled_units
            };
            let gross = (order.filled_units * price).round_dp(2);
            let figures = Figures {
                symbol: state.symbol(order.symbol),
                units,
                price,
                amount: Some(if is_sell { gross } else { -gross }),
                fee: Decimal::ZERO,
            };
            (
                order.id.to_string(),
                order.action.as_str(),
                figures,
                order.executed.unwrap_or(order.placed),
            )
        }
        Activity::Generated(index) => {
            let day = activity_spread(account).date(index);
            (
                format!("{}-{index:08}", &account.id.simple().to_string()[..12]),
                generated_activity_type(index),
                generated_figures(state, account, index),
                day.and_hms_opt(16, 0, 0).unwrap_or_default().and_utc(),
            )
        }
    };
    let symbol = figures.symbol;
    json!({
        "id": id,
        "symbol": symbol.map(universal_symbol_json),
        "option_symbol": null,
        "price": float(figures.price),
        "units": float(figures.units),
        "amount": figures.amount.map(float),
        // `AccountUniversalActivity.currency`: "The currency in which the transaction `price`, `amount`, and `fee`
        // are denominated": the security's for a trade or its dividend, the account's for a contribution.
        "currency": currency_json(symbol.map_or(account.currency, |symbol| symbol.currency)),
        "currency_universal_symbol": null,
        "type": kind,
        "option_type": "",
        "description": match symbol {
            Some(symbol) => format!("{kind} {}", symbol.name),
            None => format!("{kind} CASH"),
        },
        "trade_date": traded_at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "settlement_date": (traded_at + Duration::days(2)).format("%Y-%m-%dT00:00:00Z").to_string(),
        "fee": float(figures.fee),
        "fx_rate": null,
        "institution": institution,
        "external_reference_id": null
    })
}

/// getOrderImpact's answer for `order`, checked as trade `trade_id`; `None` if its symbol or
/// account is unknown.
pub(crate) fn impact_json(state: &SnapState, trade_id: Uuid, order: &Order) -> Option<Value> {
    let symbol = state.symbol(order.symbol)?;
    let account = state.account(order.account_id)?;
    let price = order.limit_price.unwrap_or(symbol.price);
    let cost = (order.units * price).round_dp(2);
    let remaining = if order.action == "BUY" {
        account.cash - cost
    } else {
        account.cash + cost
    };
    let currency = currency_json(account.currency);
    Some(json!({
        "trade": {
            "id": trade_id,
            "account": account.id,
            "order_type": order.order_type,
            "time_in_force": order.time_in_force,
            "symbol": {
                "universal_symbol_id": symbol.id,
                "brokerage_symbol_id": symbol.id,
                "currency": currency_json(symbol.currency)
            },
            "action": order.action,
            "units": float(order.units),
            "price": float(price)
        },
        "trade_impacts": [{
            "account": account.id,
            "currency": currency["id"],
            "remaining_cash": float(remaining),
            "estimated_commission": float(Decimal::ZERO),
            "forex_fees": float(Decimal::ZERO)
        }],
        "combined_remaining_balance": {
            "account": {"id": account.id, "name": account.name, "number": account.number},
            "currency": currency,
            "cash": float(remaining)
        }
    }))
}
