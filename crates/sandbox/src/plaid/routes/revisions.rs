//! Test knobs on `/investments/transactions/get`: a transaction Plaid revised, one it withdrew, and pages that
//! fail, applied around the generated history so the generation itself stays as it is.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::{PlaidState, error, investments};
use crate::knobs::lock;
use crate::plaid::PlaidSandbox;
use crate::reply::ApiError;

/// What the knobs change in the answers.
#[derive(Debug, Default)]
pub(crate) struct Revisions {
    /// `investment_transaction_id` → the `amount` Plaid now reports for it.
    amounts: HashMap<String, Value>,
    /// `investment_transaction_id`s Plaid no longer returns.
    withdrawn: HashSet<String>,
    /// Requests whose `options.offset` is at least this answer a 500.
    failing_from: Option<u64>,
}

/// `/investments/transactions/get` with the knobs applied.
pub(super) fn transactions_get(state: &mut PlaidState, request: &Value) -> Result<Value, ApiError> {
    let offset = request
        .pointer("/options/offset")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    if state
        .revisions
        .failing_from
        .is_some_and(|from| offset >= from)
    {
        // `PlaidError.error_type` `API_ERROR` with `INTERNAL_SERVER_ERROR`: "Plaid was unable to process the
        // request" — what a page lost to Plaid's outage answers.
        return Err(error(
            500,
            "API_ERROR",
            "INTERNAL_SERVER_ERROR",
            "an unexpected error occurred",
        ));
    }
    let mut response = investments::transactions_get(state, request)?;
    let revisions = &state.revisions;
    if let Some(Value::Array(transactions)) = response.get_mut("investment_transactions") {
        let before = transactions.len();
        transactions.retain(|t| {
            !t["investment_transaction_id"]
                .as_str()
                .is_some_and(|id| revisions.withdrawn.contains(id))
        });
        let gone = (before - transactions.len()) as u64;
        for transaction in transactions.iter_mut() {
            let id = transaction["investment_transaction_id"]
                .as_str()
                .map(str::to_owned);
            if let Some(amount) = id.and_then(|id| revisions.amounts.get(&id)) {
                // `InvestmentTransaction.amount`: "The complete value of the transaction. Positive values when
                // cash is debited, e.g. purchases of stock; negative values when cash is credited".
                transaction["amount"] = amount.clone();
            }
        }
        // `total_investment_transactions`: "The total number of transactions available within the date range
        // specified" — a withdrawn one is not available.
        if let Some(total) = response["total_investment_transactions"].as_u64() {
            response["total_investment_transactions"] = Value::from(total.saturating_sub(gone));
        }
    }
    Ok(response)
}

impl PlaidSandbox {
    /// From now on, `/investments/transactions/get` reports `amount` (Plaid's sign: positive when cash is
    /// debited) for the transaction `investment_transaction_id`: a revision.
    pub fn revise_transaction(&self, investment_transaction_id: &str, amount: Value) {
        lock(&self.shared.state)
            .revisions
            .amounts
            .insert(investment_transaction_id.to_owned(), amount);
    }

    /// From now on, `/investments/transactions/get` no longer returns the transaction: Plaid withdrew it.
    pub fn withdraw_transaction(&self, investment_transaction_id: &str) {
        lock(&self.shared.state)
            .revisions
            .withdrawn
            .insert(investment_transaction_id.to_owned());
    }

    /// Until `None` is set, every `/investments/transactions/get` asking from an offset of at least `offset`
    /// answers a 500 (`API_ERROR`): the pages before it are served, the rest fail.
    pub fn fail_transactions_from_offset(&self, offset: Option<u64>) {
        lock(&self.shared.state).revisions.failing_from = offset;
    }
}
