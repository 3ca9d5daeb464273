//! An Item's investment transactions, generated from their index so an Item can have 100,000 without storing
//! any: the same index is the same transaction every time it is asked for.
//!
//! Transaction `index` belongs to account `index % accounts` (so a page filtered by `options.account_ids` is
//! counted without building it) and is that account's `index / accounts`-th newest. An account's history
//! repeats [`CYCLE`]: buys and sells of the securities the Item holds, dividends on its equities and funds,
//! interest, deposits (contributions in a retirement account), withdrawals, fees, a withheld tax, a dividend
//! reinvestment, and once every [`SPLIT_EVERY`] a stock split. Dates fall from the Item's creation back over
//! about two years ([`crate::spread`]), newest first, as `/investments/transactions/get` pages them.
//!
//! Every figure is signed as plaid-openapi.yml `InvestmentTransaction` signs it: `amount` "Positive values when
//! cash is debited, e.g. purchases of stock; negative values when cash is credited, e.g. sales of stock.
//! Treatment remains the same for cash-only movements unassociated with securities"; `quantity` "Positive for
//! buy transactions; negative for sell transactions".

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::state::{Currency, Item};
use crate::reply::number;

/// What a generated transaction is, as `InvestmentTransaction.type` and `.subtype` (plaid-openapi.yml
/// `InvestmentTransactionType`, `InvestmentTransactionSubtype`, each pair one the
/// `StandaloneInvestmentTransaction*Type` schemas list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `buy`/`buy`: "Purchase to open or increase a position".
    Buy,
    /// `sell`/`sell`: "Sell to close or decrease an existing holding".
    Sell,
    /// `cash`/`dividend`: "Inflow of cash from a dividend".
    Dividend,
    /// `cash`/`qualified dividend`: "Inflow of cash from a qualified dividend".
    QualifiedDividend,
    /// `buy`/`dividend reinvestment`: "Purchase using proceeds from a cash dividend".
    DividendReinvestment,
    /// `cash`/`interest`: "Inflow of cash from interest".
    Interest,
    /// `cash`/`deposit` ("Inflow of cash into an account"), or `cash`/`contribution` ("Inflow of assets into a
    /// tax-advantaged account") in a retirement account.
    Deposit,
    /// `cash`/`withdrawal`: "Outflow of cash from an account".
    Withdrawal,
    /// `fee`/`account fee`: "Fees paid for account maintenance".
    AccountFee,
    /// `fee`/`management fee`: "Fees paid for investment management of a mutual fund or other pooled
    /// investment vehicle".
    ManagementFee,
    /// `cash`/`tax withheld`: "Taxes withheld on behalf of the customer".
    TaxWithheld,
    /// `transfer`/`split`: "Inflow of stock from a forward split of an existing holding".
    Split,
}

impl Kind {
    fn type_and_subtype(self, retirement: bool) -> (&'static str, &'static str) {
        match self {
            Self::Buy => ("buy", "buy"),
            Self::Sell => ("sell", "sell"),
            Self::Dividend => ("cash", "dividend"),
            Self::QualifiedDividend => ("cash", "qualified dividend"),
            Self::DividendReinvestment => ("buy", "dividend reinvestment"),
            Self::Interest => ("cash", "interest"),
            Self::Deposit if retirement => ("cash", "contribution"),
            Self::Deposit => ("cash", "deposit"),
            Self::Withdrawal => ("cash", "withdrawal"),
            Self::AccountFee => ("fee", "account fee"),
            Self::ManagementFee => ("fee", "management fee"),
            Self::TaxWithheld => ("cash", "tax withheld"),
            Self::Split => ("transfer", "split"),
        }
    }
}

/// One account's history, newest first, repeating: eight purchases (one of them a dividend reinvested) for
/// three sales, so the units bought outweigh those sold as an account that holds them has; three dividends and
/// the tax withheld on one; a month's interest; two deposits and a withdrawal; two fees.
const CYCLE: [Kind; 20] = [
    Kind::Buy,
    Kind::Dividend,
    Kind::Buy,
    Kind::Sell,
    Kind::Deposit,
    Kind::Buy,
    Kind::Interest,
    Kind::Buy,
    Kind::AccountFee,
    Kind::Sell,
    Kind::Buy,
    Kind::QualifiedDividend,
    Kind::Withdrawal,
    Kind::Buy,
    Kind::Sell,
    Kind::DividendReinvestment,
    Kind::Deposit,
    Kind::TaxWithheld,
    Kind::Buy,
    Kind::ManagementFee,
];

/// One transaction in this many of an account's is a stock split instead of its cycle's kind.
pub(crate) const SPLIT_EVERY: u64 = 400;
/// Which of them: an account of several hundred transactions has one split, a year or so back.
const SPLIT_AT: u64 = 200;

/// A generated transaction's figures, in `InvestmentTransaction`'s signs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Generated {
    kind: Kind,
    account: usize,
    /// The security's slot in `Item.securities`, when the transaction concerns one.
    pub(crate) security: Option<usize>,
    quantity: Decimal,
    price: Decimal,
    amount: Decimal,
    fees: Decimal,
    currency: Currency,
    name: String,
    date: NaiveDate,
}

/// The securities traded: all but options (the Item's option expired in 2018, before any generated history).
fn traded(item: &Item) -> Vec<usize> {
    (0..item.securities.len())
        .filter(|&slot| item.securities[slot].option.is_none())
        .collect()
}

/// The securities that pay dividends: equities and funds priced in dollars (not the cryptocurrency).
fn payers(item: &Item) -> Vec<usize> {
    (0..item.securities.len())
        .filter(|&slot| {
            let security = &item.securities[slot];
            security.option.is_none() && security.currency == Currency::Iso("USD")
        })
        .collect()
}

/// Units of `security` that `account` holds now, or ten when it holds none.
fn held(item: &Item, account: usize, security: usize) -> Decimal {
    item.holdings
        .iter()
        .find(|holding| holding.account == account && holding.security == security)
        .map_or(Decimal::TEN, |holding| holding.quantity)
}

/// Transaction `index` of `item`.
pub(crate) fn generated(item: &Item, index: u64) -> Generated {
    let accounts = item.accounts.len().max(1) as u64;
    let account = (index % accounts) as usize;
    let nth = index / accounts;
    let kind = if nth % SPLIT_EVERY == SPLIT_AT {
        Kind::Split
    } else {
        CYCLE[(nth % CYCLE.len() as u64) as usize]
    };
    let retirement = matches!(
        item.accounts.get(account).map(|account| account.subtype),
        Some("401k" | "ira" | "roth")
    );
    let traded = traded(item);
    let payers = payers(item);
    let pick = |from: &[usize]| from.get((nth / 2) as usize % from.len().max(1)).copied();
    let security = match kind {
        Kind::Buy | Kind::Sell => pick(&traded),
        Kind::Dividend
        | Kind::QualifiedDividend
        | Kind::DividendReinvestment
        | Kind::TaxWithheld
        | Kind::Split => pick(&payers),
        Kind::Interest
        | Kind::Deposit
        | Kind::Withdrawal
        | Kind::AccountFee
        | Kind::ManagementFee => None,
    };
    let currency = match (kind, security) {
        (Kind::Buy | Kind::Sell, Some(slot)) => item.securities[slot].currency,
        _ => Currency::Iso("USD"),
    };
    let in_btc = currency == Currency::Unofficial("BTC");
    // A trade in BTC to the satoshi, in dollars to the cent.
    let places = if in_btc { 8 } else { 2 };
    // The price moves within ±10 % of today's close over the history.
    let price = security.map_or(Decimal::ZERO, |slot| {
        let close = item.securities[slot].close_price;
        (close * Decimal::from(90 + (nth * 7) % 21) / Decimal::ONE_HUNDRED).round_dp(places)
    });
    let ticker = security.map_or("", |slot| item.securities[slot].ticker.as_str());
    let whole = |units: u64| {
        if in_btc {
            Decimal::from(units * 1_000)
        } else {
            Decimal::from(units)
        }
    };
    let commission = if in_btc || !nth.is_multiple_of(3) {
        Decimal::ZERO
    } else {
        Decimal::new(495, 2)
    };
    let on_record = security.map_or(Decimal::ZERO, |slot| held(item, account, slot));
    let dividend = (on_record * Decimal::new(24 + (nth % 5) as i64, 2)).round_dp(2);
    let (quantity, price, amount, fees, name) = match kind {
        Kind::Buy => {
            let quantity = whole(nth % 9 + 1) + Decimal::new(((nth % 4) * 25) as i64, 2);
            let gross = (quantity * price).round_dp(places);
            (
                quantity,
                price,
                gross + commission,
                commission,
                format!("BUY {ticker}"),
            )
        }
        Kind::Sell => {
            let quantity = whole(nth % 5 + 1);
            let gross = (quantity * price).round_dp(places);
            (
                -quantity,
                price,
                -(gross - commission),
                commission,
                format!("SELL {ticker}"),
            )
        }
        // The spec's example dividend: `quantity: 0`, `price: 0`, `amount: -8.72`, "INCOME DIV DIVIDEND
        // RECEIVED", the security's id given.
        Kind::Dividend | Kind::QualifiedDividend => (
            Decimal::ZERO,
            Decimal::ZERO,
            -dividend,
            Decimal::ZERO,
            "INCOME DIV DIVIDEND RECEIVED".to_owned(),
        ),
        Kind::DividendReinvestment => {
            let quantity = if price.is_zero() {
                Decimal::ZERO
            } else {
                (dividend / price).round_dp(6)
            };
            let cost = (quantity * price).round_dp(2);
            (
                quantity,
                price,
                cost,
                Decimal::ZERO,
                format!("REINVEST DIVIDEND {ticker}"),
            )
        }
        Kind::TaxWithheld => (
            Decimal::ZERO,
            Decimal::ZERO,
            (dividend * Decimal::new(15, 2)).round_dp(2),
            Decimal::ZERO,
            "FOREIGN TAX WITHHELD".to_owned(),
        ),
        Kind::Interest => (
            Decimal::ZERO,
            Decimal::ZERO,
            -Decimal::new(100 + (nth % 250) as i64, 2),
            Decimal::ZERO,
            "INTEREST EARNED ON CASH".to_owned(),
        ),
        Kind::Deposit => (
            Decimal::ZERO,
            Decimal::ZERO,
            -Decimal::from(250 * (nth % 4 + 1)),
            Decimal::ZERO,
            if retirement {
                "EMPLOYEE CONTRIBUTION"
            } else {
                "ACH DEPOSIT"
            }
            .to_owned(),
        ),
        Kind::Withdrawal => (
            Decimal::ZERO,
            Decimal::ZERO,
            Decimal::from(200 + 50 * (nth % 5)),
            Decimal::ZERO,
            "ACH WITHDRAWAL".to_owned(),
        ),
        Kind::AccountFee => (
            Decimal::ZERO,
            Decimal::ZERO,
            Decimal::new(2500, 2),
            Decimal::ZERO,
            "ACCOUNT MAINTENANCE FEE".to_owned(),
        ),
        Kind::ManagementFee => (
            Decimal::ZERO,
            Decimal::ZERO,
            Decimal::new(1000 + (nth % 7) as i64 * 125, 2),
            Decimal::ZERO,
            "ADVISORY MANAGEMENT FEE".to_owned(),
        ),
        // A 2-for-1 split: as many new units as were held, no cash.
        Kind::Split => (
            on_record,
            Decimal::ZERO,
            Decimal::ZERO,
            Decimal::ZERO,
            format!("STOCK SPLIT 2 FOR 1 {ticker}"),
        ),
    };
    Generated {
        kind,
        account,
        security,
        quantity,
        price,
        amount,
        fees,
        currency,
        name,
        date: item.spread().date(index),
    }
}

/// Transaction `index` as `InvestmentTransaction` JSON.
pub(crate) fn transaction_json(item: &Item, index: u64) -> Value {
    let generated = generated(item, index);
    let account = &item.accounts[generated.account];
    let retirement = matches!(account.subtype, "401k" | "ira" | "roth");
    let (kind, subtype) = generated.kind.type_and_subtype(retirement);
    // `iso_currency_code`: "Always `null` if `unofficial_currency_code` is non-`null`".
    let (iso, unofficial) = generated.currency.codes();
    json!({
        "investment_transaction_id": format!("{}-{index:010}", &item.item_id[..16]),
        "cancel_transaction_id": null,
        "account_id": account.account_id,
        // `security_id`: "The `security_id` to which this transaction is related", `nullable: true`: none for
        // a cash movement unassociated with a security.
        "security_id": generated.security.map(|slot| item.securities[slot].security_id.clone()),
        "date": generated.date.to_string(),
        "transaction_datetime": null,
        "name": generated.name,
        "quantity": number(generated.quantity),
        "amount": number(generated.amount),
        "price": number(generated.price),
        "fees": number(generated.fees),
        "type": kind,
        "subtype": subtype,
        "iso_currency_code": iso,
        "unofficial_currency_code": unofficial
    })
}
