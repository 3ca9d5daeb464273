//! What the Plaid sandbox remembers: Items with accounts, securities, holdings, and investment
//! transactions that are generated on demand from their index, so an Item can have 100,000 of them
//! without storing any.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::reply::number;
use crate::spread::Spread;

/// An investment account of an Item.
#[derive(Debug, Clone)]
pub(crate) struct Account {
    pub(crate) account_id: String,
    pub(crate) name: String,
    pub(crate) mask: String,
    pub(crate) subtype: &'static str,
}

/// A security held or traded in an Item.
#[derive(Debug, Clone)]
pub(crate) struct Security {
    pub(crate) security_id: String,
    pub(crate) ticker: String,
    pub(crate) name: String,
    pub(crate) kind: &'static str,
    pub(crate) subtype: &'static str,
    pub(crate) close_price: Decimal,
    /// The currency of its prices: ISO-4217 or, for crypto, an unofficial code.
    pub(crate) currency: Currency,
    /// The 12-character FIGI, when the security has a known one.
    pub(crate) figi: Option<&'static str>,
    /// `(contract_type, expiration, strike, underlying ticker)` for options.
    pub(crate) option: Option<(&'static str, NaiveDate, Decimal, &'static str)>,
}

/// A security's currency, as Plaid's `iso_currency_code`/`unofficial_currency_code` pair says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Currency {
    /// `iso_currency_code`, `unofficial_currency_code: null`.
    Iso(&'static str),
    /// plaid-openapi.yml `Security.iso_currency_code`: "Always `null` if `unofficial_currency_code` is
    /// non-`null`"; `unofficial_currency_code` lists its codes in `UnofficialCurrencyCodeList` (BTC, ETH…).
    Unofficial(&'static str),
}

impl Currency {
    /// `(iso_currency_code, unofficial_currency_code)` as JSON.
    pub(crate) fn codes(self) -> (Value, Value) {
        match self {
            Self::Iso(code) => (json!(code), Value::Null),
            Self::Unofficial(code) => (Value::Null, json!(code)),
        }
    }
}

/// What one bitcoin is worth in dollars in the sandbox, to value a BTC-quoted holding in a USD account's
/// balance (the spec is silent on how Plaid converts; a fixed rate keeps the sandbox deterministic).
const USD_PER_BTC: i64 = 60_000;

/// One holding: `quantity` of a security in an account.
#[derive(Debug, Clone)]
pub(crate) struct Holding {
    pub(crate) account: usize,
    pub(crate) security: usize,
    pub(crate) quantity: Decimal,
    pub(crate) cost_basis: Decimal,
}

/// A linked Item.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub(crate) item_id: String,
    pub(crate) institution_id: String,
    pub(crate) accounts: Vec<Account>,
    pub(crate) securities: Vec<Security>,
    pub(crate) holdings: Vec<Holding>,
    pub(crate) transactions: u64,
    pub(crate) login_required: bool,
    /// The user took back their consent (`USER_PERMISSION_REVOKED`); Link's update mode restores it.
    pub(crate) permission_revoked: bool,
    pub(crate) created: DateTime<Utc>,
}

impl Item {
    /// An Item at `institution_id` with `accounts` accounts, `holdings_per_account` holdings each, and
    /// `transactions` generated investment transactions. The holdings follow plaid-openapi.yml's holdings
    /// example: ACHN, then DOGE quoted in BTC, MSFT, and the NFLX call bought for a cent (from the fourth on).
    pub(crate) fn generate(
        institution_id: &str,
        accounts: usize,
        holdings_per_account: usize,
        transactions: u64,
    ) -> Self {
        let item_id = random_id(37);
        let subtypes = ["401k", "brokerage", "ira", "roth"];
        let accounts: Vec<Account> = (0..accounts)
            .map(|index| Account {
                account_id: random_id(37),
                name: format!("Plaid {}", subtypes[index % subtypes.len()].to_uppercase()),
                mask: format!("{:04}", 6666 + index),
                subtype: subtypes[index % subtypes.len()],
            })
            .collect();
        let securities: Vec<Security> = (0..holdings_per_account.max(1)).map(security).collect();
        let holdings = (0..accounts.len())
            .flat_map(|account| {
                (0..holdings_per_account).map(move |slot| {
                    let (quantity, cost_basis) = match slot {
                        // plaid-openapi.yml `/investments/holdings/get` example-1, the DOGE holding:
                        // `quantity: 25000`; here quoted in BTC, its cost basis in BTC too.
                        DOGE_SLOT => (Decimal::from(25_000), Decimal::new(5, 2)),
                        // The same example's NFLX call: `quantity: 10000`, `cost_basis: 0.01` (worth 110: a
                        // gain of 1,099,900 %).
                        OPTION_SLOT => (Decimal::from(10_000), Decimal::new(1, 2)),
                        _ => (
                            Decimal::from(slot as u64 + 1) * Decimal::new(25, 1),
                            Decimal::new(150, 2) * Decimal::from(slot as u64 + 1),
                        ),
                    };
                    Holding {
                        account,
                        security: slot,
                        quantity,
                        cost_basis,
                    }
                })
            })
            .collect();
        Self {
            item_id,
            institution_id: institution_id.to_owned(),
            accounts,
            securities,
            holdings,
            transactions,
            login_required: false,
            permission_revoked: false,
            created: Utc::now(),
        }
    }

    /// The account's current value in its currency (USD): the sum of its holdings at their close prices,
    /// a BTC-quoted one at [`USD_PER_BTC`].
    fn account_value(&self, account: usize) -> Decimal {
        self.holdings
            .iter()
            .filter(|holding| holding.account == account)
            .map(|holding| {
                let value = self.holding_value(holding);
                match self.securities[holding.security].currency {
                    Currency::Unofficial("BTC") => (value * Decimal::from(USD_PER_BTC)).round_dp(4),
                    _ => value,
                }
            })
            .sum()
    }

    /// `quantity × close_price` in the security's currency, as Plaid's example reports an option too
    /// (`/investments/holdings/get` example-1: NFLX call, `quantity: 10000` × `institution_price: 0.011` =
    /// `institution_value: 110`; no contract multiplier).
    fn holding_value(&self, holding: &Holding) -> Decimal {
        let security = &self.securities[holding.security];
        (holding.quantity * security.close_price).round_dp(4)
    }

    /// When the Item's generated transactions happened, newest first.
    pub(crate) fn spread(&self) -> Spread {
        Spread {
            count: self.transactions,
            newest: self.created.date_naive(),
        }
    }
}

/// The slot of the cryptocurrency quoted in BTC.
const DOGE_SLOT: usize = 1;
/// The slot of the option.
const OPTION_SLOT: usize = 3;

fn security(slot: usize) -> Security {
    // `(ticker, name, type, subtype, close price, FIGI)`. ACHN is plaid-openapi.yml's
    // `/investments/holdings/get` example-1 equity (`close_price: 2.11`); DOGE is its cryptocurrency, here
    // quoted in BTC (`unofficial_currency_code`, a code of `UnofficialCurrencyCodeList`); the option is its
    // NFLX call (`close_price: 0.011`). `figi` is required and nullable since Plaid spec 1.778.0
    // (plaid-python 46.0.0 `Security.figi`); only MSFT's is known here, the others are null.
    let known = [
        (
            "ACHN",
            "Achillion Pharmaceuticals Inc.",
            "equity",
            "common stock",
            Decimal::new(211, 2),
            None,
        ),
        (
            "DOGE",
            "Dogecoin",
            "cryptocurrency",
            "cryptocurrency",
            Decimal::new(3, 6),
            None,
        ),
        (
            "MSFT",
            "Microsoft Corporation",
            "equity",
            "common stock",
            Decimal::new(41025, 2),
            Some("BBG000BPH459"),
        ),
        (
            "NFLX180201C00355000",
            "Nflx Feb 01'18 $355 Call",
            "derivative",
            "option",
            Decimal::new(11, 3),
            None,
        ),
    ];
    let (ticker, name, kind, subtype, close_price, figi) = match known.get(slot) {
        Some(&(ticker, name, kind, subtype, price, figi)) => (
            ticker.to_owned(),
            name.to_owned(),
            kind,
            subtype,
            price,
            figi,
        ),
        None => (
            format!("PLD{slot:04}"),
            format!("Plaid Synthetic {slot}"),
            "mutual fund",
            "mutual fund",
            Decimal::new(1000 + slot as i64, 2),
            None,
        ),
    };
    let is_option = slot == OPTION_SLOT;
    Security {
        security_id: format!("sec{:034}", slot),
        ticker,
        name,
        kind,
        subtype,
        close_price,
        currency: if slot == DOGE_SLOT {
            Currency::Unofficial("BTC")
        } else {
            Currency::Iso("USD")
        },
        figi,
        option: is_option.then(|| {
            (
                "call",
                NaiveDate::from_ymd_opt(2018, 2, 1).unwrap_or_default(),
                Decimal::from(355),
                "NFLX",
            )
        }),
    }
}

/// A Plaid-looking opaque id of `length` alphanumerics.
pub(crate) fn random_id(length: usize) -> String {
    let mut text = String::new();
    while text.len() < length {
        text.push_str(&Uuid::new_v4().simple().to_string());
    }
    text.truncate(length);
    text
}

pub(crate) fn item_json(item: &Item) -> Value {
    json!({
        "available_products": ["balance", "identity", "transactions"],
        "billed_products": ["investments"],
        "products": ["investments"],
        "consented_products": ["investments"],
        "consent_expiration_time": null,
        "error": item_error_body(item),
        "institution_id": item.institution_id,
        "institution_name": "First Platypus Bank",
        "item_id": item.item_id,
        "update_type": "background",
        "webhook": "",
        "auth_method": "INSTANT_AUTH"
    })
}

/// The PlaidError an Item in error answers with, if it is in error: a revoked consent first (nothing works until
/// the user grants it again), then a required login.
pub(crate) fn item_error_body(item: &Item) -> Option<Value> {
    if item.permission_revoked {
        Some(permission_revoked_body())
    } else {
        item.login_required.then(login_required_body)
    }
}

/// The PlaidError of an Item whose user revoked their consent: plaid-openapi.yml `UserPermissionRevokedWebhook`
/// example-1's `error` (`error_type: ITEM_ERROR`, `error_code: USER_PERMISSION_REVOKED`, `status: 400`).
pub(crate) fn permission_revoked_body() -> Value {
    json!({
        "error_type": "ITEM_ERROR",
        "error_code": "USER_PERMISSION_REVOKED",
        "error_code_reason": null,
        "error_message": "the holder of this account has revoked their permission for your application to access it",
        "display_message": null,
        "status": 400
    })
}

/// The PlaidError of an Item whose login must be repaired.
pub(crate) fn login_required_body() -> Value {
    json!({
        "error_type": "ITEM_ERROR",
        "error_code": "ITEM_LOGIN_REQUIRED",
        "error_code_reason": null,
        "error_message": "the login details of this item have changed (credentials, MFA, or required user action) and a user login is required to update this information. use Link's update mode to restore the item to a good state",
        "display_message": null,
        "status": 400
    })
}

pub(crate) fn account_json(item: &Item, index: usize, investment: bool) -> Value {
    let account = &item.accounts[index];
    let mut balances = json!({
        "available": null,
        "current": number(item.account_value(index)),
        "iso_currency_code": "USD",
        "limit": null,
        "unofficial_currency_code": null
    });
    if investment {
        balances["margin_loan_amount"] = Value::Null;
    }
    json!({
        "account_id": account.account_id,
        "balances": balances,
        "mask": account.mask,
        "name": account.name,
        "official_name": null,
        "subtype": account.subtype,
        "type": "investment",
        "holder_category": "personal"
    })
}

pub(crate) fn security_json(item: &Item, security: &Security) -> Value {
    let (iso, unofficial) = security.currency.codes();
    json!({
        "security_id": security.security_id,
        "isin": null,
        "cusip": null,
        "sedol": null,
        "institution_security_id": null,
        "institution_id": null,
        "proxy_security_id": null,
        "name": security.name,
        "ticker_symbol": security.ticker,
        "is_cash_equivalent": false,
        "type": security.kind,
        "subtype": security.subtype,
        "close_price": number(security.close_price),
        "close_price_as_of": item.created.date_naive().to_string(),
        "update_datetime": null,
        "iso_currency_code": iso,
        "unofficial_currency_code": unofficial,
        "market_identifier_code": if security.currency == Currency::Iso("USD") { json!("XNAS") } else { Value::Null },
        "sector": null,
        "industry": null,
        "cfi_code": null,
        "figi": security.figi,
        "option_contract": security.option.map(|(contract_type, expiration, strike, underlying)| json!({
            "contract_type": contract_type,
            "expiration_date": expiration.to_string(),
            "strike_price": number(strike),
            "underlying_security_ticker": underlying
        })),
        "fixed_income": null
    })
}

pub(crate) fn holding_json(item: &Item, holding: &Holding) -> Value {
    let security = &item.securities[holding.security];
    // `Holding.iso_currency_code`/`unofficial_currency_code`: the holding is priced in its security's currency.
    let (iso, unofficial) = security.currency.codes();
    json!({
        "account_id": item.accounts[holding.account].account_id,
        "security_id": security.security_id,
        "cost_basis": number(holding.cost_basis),
        "institution_price": number(security.close_price),
        "institution_price_as_of": item.created.date_naive().to_string(),
        "institution_price_datetime": null,
        "institution_value": number(item.holding_value(holding)),
        "iso_currency_code": iso,
        "unofficial_currency_code": unofficial,
        "quantity": number(holding.quantity),
        "vested_quantity": null,
        "vested_value": null
    })
}
