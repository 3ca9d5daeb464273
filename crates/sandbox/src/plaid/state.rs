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
    /// `(contract_type, expiration, strike, underlying ticker)` for options.
    pub(crate) option: Option<(&'static str, NaiveDate, Decimal, &'static str)>,
}

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
    pub(crate) created: DateTime<Utc>,
}

impl Item {
    /// An Item at `institution_id` with `accounts` accounts, `holdings_per_account` holdings each (the
    /// first account's last holding is an option when there are at least two), and `transactions`
    /// generated investment transactions.
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
                (0..holdings_per_account).map(move |slot| Holding {
                    account,
                    security: slot,
                    quantity: Decimal::from(slot as u64 + 1) * Decimal::new(25, 1),
                    cost_basis: Decimal::new(150, 2) * Decimal::from(slot as u64 + 1),
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
            created: Utc::now(),
        }
    }

    /// The account's current value: the sum of its holdings at their close prices.
    fn account_value(&self, account: usize) -> Decimal {
        self.holdings
            .iter()
            .filter(|holding| holding.account == account)
            .map(|holding| self.holding_value(holding))
            .sum()
    }

    fn holding_value(&self, holding: &Holding) -> Decimal {
        let security = &self.securities[holding.security];
        let multiplier = if security.option.is_some() {
            Decimal::from(100)
        } else {
            Decimal::ONE
        };
        (holding.quantity * security.close_price * multiplier).round_dp(4)
    }

    /// When the Item's generated transactions happened, newest first.
    pub(crate) fn spread(&self) -> Spread {
        Spread {
            count: self.transactions,
            newest: self.created.date_naive(),
        }
    }
}

fn security(slot: usize) -> Security {
    let known = [
        (
            "ACHN",
            "Achillion Pharmaceuticals Inc.",
            "equity",
            "common stock",
            211,
        ),
        (
            "VTI",
            "Vanguard Total Stock Market ETF",
            "etf",
            "etf",
            26510,
        ),
        (
            "MSFT",
            "Microsoft Corporation",
            "equity",
            "common stock",
            41025,
        ),
    ];
    let (ticker, name, kind, subtype, cents) = match known.get(slot) {
        Some(&(ticker, name, kind, subtype, cents)) => {
            (ticker.to_owned(), name.to_owned(), kind, subtype, cents)
        }
        None => (
            format!("PLD{slot:04}"),
            format!("Plaid Synthetic {slot}"),
            "mutual fund",
            "mutual fund",
            1000 + slot as i64,
        ),
    };
    let is_option = slot == 3;
    Security {
        security_id: format!("sec{:034}", slot),
        ticker: if is_option {
            "NFLX180201C00355000".to_owned()
        } else {
            ticker
        },
        name: if is_option {
            "NFLX Feb 01 2018 355.0 Call".to_owned()
        } else {
            name
        },
        kind: if is_option { "derivative" } else { kind },
        subtype: if is_option { "option" } else { subtype },
        close_price: Decimal::new(cents, 2),
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
        "error": item.login_required.then(login_required_body),
        "institution_id": item.institution_id,
        "institution_name": "First Platypus Bank",
        "item_id": item.item_id,
        "update_type": "background",
        "webhook": "",
        "auth_method": "INSTANT_AUTH"
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
        "iso_currency_code": "USD",
        "unofficial_currency_code": null,
        "market_identifier_code": "XNAS",
        "sector": null,
        "industry": null,
        "cfi_code": null,
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
    json!({
        "account_id": item.accounts[holding.account].account_id,
        "security_id": security.security_id,
        "cost_basis": number(holding.cost_basis),
        "institution_price": number(security.close_price),
        "institution_price_as_of": item.created.date_naive().to_string(),
        "institution_price_datetime": null,
        "institution_value": number(item.holding_value(holding)),
        "iso_currency_code": "USD",
        "unofficial_currency_code": null,
        "quantity": number(holding.quantity),
        "vested_quantity": null,
        "vested_value": null
    })
}

/// Investment transaction `index`, the same every time it is asked for.
pub(crate) fn transaction_json(item: &Item, index: u64) -> Value {
    let account = &item.accounts[(index % item.accounts.len() as u64) as usize];
    let security = &item.securities[(index % item.securities.len() as u64) as usize];
    let quantity = Decimal::from(index % 7 + 1) + Decimal::new((index % 100) as i64, 2);
    let price = security.close_price;
    let fees = Decimal::new(((index % 3) * 50) as i64, 2);
    let gross = (quantity * price).round_dp(2);
    let (kind, subtype, quantity, amount, name) = match index % 4 {
        0 | 1 => (
            "buy",
            "buy",
            quantity,
            gross + fees,
            format!("BUY {}", security.ticker),
        ),
        2 => (
            "sell",
            "sell",
            -quantity,
            -(gross - fees),
            format!("SELL {}", security.ticker),
        ),
        _ => (
            "cash",
            "dividend",
            Decimal::ZERO,
            -Decimal::new(872, 2),
            "INCOME DIV DIVIDEND RECEIVED".to_owned(),
        ),
    };
    let is_cash = kind == "cash";
    json!({
        "investment_transaction_id": format!("{}-{index:010}", &item.item_id[..16]),
        "cancel_transaction_id": null,
        "account_id": account.account_id,
        "security_id": security.security_id,
        "date": item.spread().date(index).to_string(),
        "transaction_datetime": null,
        "name": name,
        "quantity": number(quantity),
        "amount": number(amount),
        "price": number(if is_cash { Decimal::ZERO } else { price }),
        "fees": number(if is_cash { Decimal::ZERO } else { fees }),
        "type": kind,
        "subtype": subtype,
        "iso_currency_code": "USD",
        "unofficial_currency_code": null
    })
}
