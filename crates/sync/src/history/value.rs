//! The day's value points: per account and the user's total, per currency, from the stored holdings, the cash
//! the providers just reported, and the stored transactions.
//!
//! # What each figure is, and when it is `None`
//!
//! * **Market value**: the account's part of every stored holding in that currency (a holding with no currency
//!   of its own is in its account's; one whose account names none either is left out and reported).
//! * **Cost basis**: the same sum of cost bases, only when every position of the account reported one this sync;
//!   an account not fetched this sync, or with one position of unknown cost, has `None`.
//! * **Cash**: the account's cash balance as its provider just reported it, in the account's currency; `None`
//!   when the provider did not report it or the account was not fetched.
//! * **Net contributions**: deposits, withdrawals and transfers of cash ([`TransactionType::is_contribution`])
//!   summed over the account's stored transactions in that currency, only once the account's history has been
//!   fetched in full from as far back as the provider offers (its `synced_through` is recorded: the first
//!   complete sync reached back [`HistoryWindow::depth`](super::HistoryWindow::depth)). Before that the figure would
//!   count only part of the history, so it is `None`. What the provider never offers (Plaid keeps 24 months)
//!   cannot be counted by anyone: for an older account the figure is the contributions over the provider's
//!   whole reach.
//! * **The total**: per currency, the sum over the accounts' points; a figure is `Some` only when every account
//!   point in that currency has it, never a partial sum presented as whole.
//!
//! One point per account, day and currency: a second sync on the same day rewrites the day's points. Days
//! without a sync have none.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use rust_decimal::Decimal;
use tributary_domain::{
    AccountId, Amount, Currency, InvestmentAccount, NewValuePoint, SignedAmount, UserId,
};
use tributary_repo::Store;

use crate::{Outcome, SyncEngine, SyncError, ValuePointsReport};

/// What this sync learnt of an account from its provider, beside its positions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct AccountFacts {
    /// The cash balance, when reported.
    pub(crate) cash: Option<SignedAmount>,
    /// The account's currency, when reported.
    pub(crate) currency: Option<Currency>,
    /// Whether every position reported its cost basis.
    pub(crate) cost_known: bool,
    /// Whether the account's history is stored from as far back as the provider offers, when this sync's history
    /// said (`None`: the store is asked).
    pub(crate) history_stored: Option<bool>,
}

/// One account's figures in one currency, as they are summed.
#[derive(Debug, Clone, Default)]
struct Figures {
    market_value: Decimal,
    cost_basis: Option<Decimal>,
    cash: Option<Decimal>,
    net_contributions: Option<Decimal>,
}

impl<S: Store + 'static> SyncEngine<S> {
    /// Writes the day's value points of `user` (see the module documentation).
    pub(crate) async fn record_value_points(
        &self,
        user: UserId,
        day: NaiveDate,
        facts: &HashMap<AccountId, AccountFacts>,
    ) -> ValuePointsReport {
        let mut report = ValuePointsReport {
            outcome: Outcome::Synced,
            written: 0,
            left_out: Vec::new(),
        };
        match self
            .value_points(user, day, facts, &mut report.left_out)
            .await
        {
            Ok(points) => match self.store.upsert_value_points(user, &points).await {
                Ok(written) => report.written = written,
                Err(error) => report.outcome = Outcome::failed(SyncError::from(error)),
            },
            Err(error) => report.outcome = Outcome::failed(error),
        }
        for left_out in &report.left_out {
            tracing::warn!(%user, %left_out, "left out of the value points");
        }
        report
    }

    async fn value_points(
        &self,
        user: UserId,
        day: NaiveDate,
        facts: &HashMap<AccountId, AccountFacts>,
        left_out: &mut Vec<String>,
    ) -> Result<Vec<tributary_domain::NewValuePoint>, SyncError> {
        let accounts: Vec<InvestmentAccount> = self
            .store
            .list_accounts(user)
            .await?
            .into_iter()
            .filter(|a| a.is_active)
            .collect();
        let none = AccountFacts::default();
        let mut per_account: BTreeMap<(AccountId, Currency), Figures> = BTreeMap::new();
        for account in &accounts {
            let facts = facts.get(&account.id).unwrap_or(&none);
            if let (Some(currency), Some(cash)) = (&facts.currency, facts.cash) {
                per_account
                    .entry((account.id, currency.clone()))
                    .or_default()
                    .cash = Some(cash.get());
            } else if let Some(currency) = &facts.currency {
                per_account
                    .entry((account.id, currency.clone()))
                    .or_default();
            }
        }
        for holding in self.store.list_holdings(user).await? {
            for part in &holding.account_contributions {
                let Some(account) = accounts.iter().find(|a| a.id == part.account_id) else {
                    continue;
                };
                let facts = facts.get(&account.id).unwrap_or(&none);
                let Some(currency) = holding.currency.clone().or_else(|| facts.currency.clone())
                else {
                    left_out.push(format!(
                        "holding {} of account {}: neither it nor its account names a currency",
                        holding.symbol, account.provider_account_id
                    ));
                    continue;
                };
                let figures = per_account.entry((account.id, currency)).or_default();
                figures.market_value += part.market_value.get();
                figures.cost_basis =
                    Some(figures.cost_basis.unwrap_or_default() + part.cost_basis.get());
            }
        }
        for ((account, _), figures) in per_account.iter_mut() {
            let known = facts.get(account).is_some_and(|f| f.cost_known);
            if !known {
                figures.cost_basis = None;
            } else if figures.cost_basis.is_none() {
                figures.cost_basis = Some(Decimal::ZERO);
            }
        }
        for account in &accounts {
            let history_stored = match facts.get(&account.id).and_then(|f| f.history_stored) {
                Some(known) => known,
                None => self
                    .store
                    .transactions_synced_through(user, account.id)
                    .await?
                    .is_some(),
            };
            if !history_stored {
                continue;
            }
            // Every stored transaction, however far back or forward, summed where the rows are.
            let sums = self.store.net_contributions(user, account.id).await?;
            for ((id, currency), figures) in per_account.iter_mut() {
                if *id == account.id {
                    figures.net_contributions =
                        Some(sums.get(currency).copied().unwrap_or_default());
                }
            }
        }
        let mut totals: BTreeMap<Currency, Figures> = BTreeMap::new();
        for ((_, currency), figures) in &per_account {
            let total = totals.entry(currency.clone()).or_insert_with(|| Figures {
                market_value: Decimal::ZERO,
                cost_basis: Some(Decimal::ZERO),
                cash: Some(Decimal::ZERO),
                net_contributions: Some(Decimal::ZERO),
            });
            total.market_value += figures.market_value;
            total.cost_basis = both(total.cost_basis, figures.cost_basis);
            total.cash = both(total.cash, figures.cash);
            total.net_contributions = both(total.net_contributions, figures.net_contributions);
        }
        let mut points = Vec::new();
        for ((account, currency), figures) in per_account {
            match point(user, Some(account), day, currency, &figures) {
                Ok(point) => points.push(point),
                Err(why) => left_out.push(format!("the point of account {account}: {why}")),
            }
        }
        for (currency, figures) in totals {
            match point(user, None, day, currency, &figures) {
                Ok(point) => points.push(point),
                Err(why) => left_out.push(format!("the total: {why}")),
            }
        }
        Ok(points)
    }
}

/// The sum when both are known.
fn both(a: Option<Decimal>, b: Option<Decimal>) -> Option<Decimal> {
    Some(a? + b?)
}

fn point(
    user: UserId,
    account: Option<AccountId>,
    day: NaiveDate,
    currency: Currency,
    figures: &Figures,
) -> Result<NewValuePoint, tributary_domain::DomainError> {
    Ok(NewValuePoint {
        cost_basis: figures
            .cost_basis
            .map(|v| Amount::exact_for("cost_basis", v))
            .transpose()?,
        cash: figures
            .cash
            .map(|v| SignedAmount::exact_for("cash", v))
            .transpose()?,
        net_contributions: figures
            .net_contributions
            .map(|v| SignedAmount::exact_for("net_contributions", v))
            .transpose()?,
        ..NewValuePoint::new(
            user,
            account,
            day,
            currency,
            SignedAmount::exact_for("market_value", figures.market_value)?,
        )
    })
}
