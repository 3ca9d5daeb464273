//! Checks every store makes on a batch before writing any of it, so both stores refuse the same batches the
//! same way and nothing of a refused batch is written.

use std::collections::HashSet;
use std::hash::Hash;

use tributary_domain::{
    NewBrokerageConnection, NewHolding, NewInvestmentAccount, NewOrder, NewSnapTradeUser, UserId,
};

use crate::{AccountSyncState, RepoError};

/// Accounts are keyed by `(provider, provider_account_id, user_id)`.
pub(crate) fn check_accounts(
    user: UserId,
    accounts: &[NewInvestmentAccount],
) -> Result<(), RepoError> {
    check_batch(
        user,
        accounts,
        |a| a.user_id,
        |a| (a.provider, a.provider_account_id.clone()),
        "provider_account_id",
    )
}

/// Connections are keyed by `authorization_id`.
pub(crate) fn check_connections(
    user: UserId,
    connections: &[NewBrokerageConnection],
) -> Result<(), RepoError> {
    check_batch(
        user,
        connections,
        |c| c.user_id,
        |c| c.authorization_id,
        "authorization_id",
    )
}

/// Holdings are keyed by `(user_id, symbol, currency)`.
pub(crate) fn check_holdings(user: UserId, holdings: &[NewHolding]) -> Result<(), RepoError> {
    check_batch(
        user,
        holdings,
        |h| h.user_id,
        |h| (h.symbol.clone(), h.currency.clone()),
        "symbol",
    )
}

/// Orders are keyed by `(brokerage_order_id, account_id)`.
pub(crate) fn check_orders(user: UserId, orders: &[NewOrder]) -> Result<(), RepoError> {
    check_batch(
        user,
        orders,
        |o| o.user_id,
        |o| (o.brokerage_order_id.clone(), o.account_id),
        "brokerage_order_id",
    )
}

/// Sync states are keyed by account; they carry no owner of their own (the call's user is the owner, and
/// another user's account is simply not found).
pub(crate) fn check_sync_states(
    user: UserId,
    states: &[AccountSyncState],
) -> Result<(), RepoError> {
    check_batch(user, states, |_| user, |s| s.account, "account_id")
}

/// A SnapTrade user is written only for its own user.
pub(crate) fn check_snaptrade_user(
    user: UserId,
    snaptrade_user: &NewSnapTradeUser,
) -> Result<(), RepoError> {
    check_batch(
        user,
        std::slice::from_ref(snaptrade_user),
        |s| s.user_id,
        |s| s.user_id,
        "user_id",
    )
}

/// Refuses a batch that holds another user's row or repeats a natural key (PostgreSQL cannot upsert one key
/// twice in a statement, and which of the two should win is a caller's bug, not the store's choice).
fn check_batch<T, K: Eq + Hash>(
    user: UserId,
    items: &[T],
    owner: impl Fn(&T) -> UserId,
    key: impl Fn(&T) -> K,
    key_field: &'static str,
) -> Result<(), RepoError> {
    let mut seen = HashSet::with_capacity(items.len());
    for item in items {
        if owner(item) != user {
            return Err(RepoError::forbidden(format!(
                "a row for user {} in a batch written for user {user}",
                owner(item)
            )));
        }
        if !seen.insert(key(item)) {
            return Err(RepoError::invalid(key_field, "appears twice in one batch"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_with_another_users_row_is_forbidden() {
        let (me, other) = (UserId::generate(), UserId::generate());
        let result = check_batch(me, &[(me, 1), (other, 2)], |i| i.0, |i| i.1, "key");
        assert!(matches!(result, Err(RepoError::Forbidden { .. })));
    }

    #[test]
    fn a_batch_repeating_a_key_is_invalid_naming_the_key() {
        let me = UserId::generate();
        let result = check_batch(me, &[(me, 1), (me, 1)], |i| i.0, |i| i.1, "symbol");
        assert!(matches!(result, Err(RepoError::InvalidData { field, .. }) if field == "symbol"));
    }

    #[test]
    fn a_batch_of_distinct_own_rows_passes() {
        let me = UserId::generate();
        assert!(check_batch(me, &[(me, 1), (me, 2)], |i| i.0, |i| i.1, "key").is_ok());
    }
}
