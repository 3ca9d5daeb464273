//! Plaid's source over the user's stored Items (and any tokens the caller hands in), recording each stored Item's
//! health from what Plaid answers.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tributary_domain::{Provider, ProviderItemId, StatusMessage, UserId};
use tributary_provider::ProviderError;
use tributary_provider::plaid::{AccessToken, PlaidClient};
use tributary_repo::{PlaidItemStatus, PlaidItemStatusChange, Store};

use crate::source::{AccountSource, AggregationSource, GivenLogins, Logins, Snapshot};
use crate::{Failure, SyncError};

/// The Item status a Plaid error code means, when it says something about the Item's health; `None` for
/// errors that do not (a rate limit, Plaid's own outage), which leave the status as it is.
///
/// plaid-openapi.yml, `ItemStatus`/`PlaidError`: `ITEM_LOGIN_REQUIRED` ("the login details of this item have
/// changed … use Link's update mode"); the `ITEM` webhooks `PENDING_EXPIRATION` and `PENDING_DISCONNECT` ("can be
/// resolved by having the user go through Link's update mode"), and `USER_PERMISSION_REVOKED` ("an end user has
/// revoked the permission that they previously granted"). `ACCESS_NOT_GRANTED` is consent not given;
/// `INVALID_CREDENTIALS`, `INVALID_MFA` and `ITEM_LOCKED` need the user's login again.
pub fn item_status_for_code(code: &str) -> Option<PlaidItemStatus> {
    Some(match code {
        "ITEM_LOGIN_REQUIRED" | "INVALID_CREDENTIALS" | "INVALID_MFA" | "ITEM_LOCKED" => {
            PlaidItemStatus::LoginRequired
        }
        "PENDING_EXPIRATION" => PlaidItemStatus::PendingExpiration,
        "PENDING_DISCONNECT" => PlaidItemStatus::PendingDisconnect,
        "USER_PERMISSION_REVOKED" | "ACCESS_NOT_GRANTED" => PlaidItemStatus::Revoked,
        _ => return None,
    })
}

/// The status change a failed sync of an Item records: the first of its provider errors whose code says
/// something about the Item's health.
pub(crate) fn failing_change(failure: &Failure) -> Option<PlaidItemStatusChange> {
    failure.provider_errors().into_iter().find_map(change_for)
}

fn change_for(error: &ProviderError) -> Option<PlaidItemStatusChange> {
    let detail = error.detail()?;
    let code = detail.code.as_deref()?;
    Some(PlaidItemStatusChange::Failing {
        status: item_status_for_code(code)?,
        error_code: Some(code.to_owned()),
        message: StatusMessage::from_optional(Some(&detail.message)),
    })
}

/// One token as a user's only login: each Item is fetched on its own, so its outcome is its own.
struct OneItem(AccessToken);

#[async_trait]
impl<S: Sync> Logins<S> for OneItem {
    type Login = AccessToken;

    async fn logins(&self, _: &S, _: UserId) -> Result<Vec<AccessToken>, SyncError> {
        Ok(vec![self.0.clone()])
    }
}

/// Plaid's [`AccountSource`]: every Item the store holds for the user (its token opened from the sealed column),
/// plus the tokens the caller handed in ([`GivenLogins`]) that are not stored. Each Item is fetched on its own;
/// a stored Item's health is recorded from the outcome: healthy after Plaid answered in full, the state Plaid's
/// error code names after a failure ([`item_status_for_code`]). Those records are made as the fetch ends, outside
/// the sync's unit of writes: they are Plaid's word on the Item, true whether or not the rest of the sync is saved.
#[derive(Debug)]
pub struct StoredItemsSource {
    client: Arc<PlaidClient>,
    given: Arc<GivenLogins<AccessToken>>,
}

impl StoredItemsSource {
    /// Plaid through `client`, over stored Items and the tokens in `given`.
    pub fn new(client: Arc<PlaidClient>, given: Arc<GivenLogins<AccessToken>>) -> Self {
        Self { client, given }
    }
}

#[async_trait]
impl<S: Store> AccountSource<S> for StoredItemsSource {
    fn provider(&self) -> Provider {
        Provider::Plaid
    }

    async fn fetch(
        &self,
        store: &S,
        user: UserId,
        permits: Arc<Semaphore>,
    ) -> Result<Snapshot, SyncError> {
        use secrecy::ExposeSecret;

        let stored = store.list_plaid_items(user).await?;
        let mut logins: Vec<(Option<ProviderItemId>, AccessToken)> = stored
            .into_iter()
            .map(|item| (Some(item.item_id), AccessToken::new(item.access_token)))
            .collect();
        for token in self.given.logins(store, user).await? {
            let held = logins
                .iter()
                .any(|(_, known)| known.secret().expose_secret() == token.secret().expose_secret());
            if !held {
                logins.push((None, token));
            }
        }
        if logins.is_empty() {
            return Err(SyncError::NotLinked {
                user,
                provider: Provider::Plaid,
            });
        }
        let mut tasks = JoinSet::new();
        for (index, (_, token)) in logins.iter().enumerate() {
            let source = AggregationSource::new(Arc::clone(&self.client), OneItem(token.clone()));
            let permits = Arc::clone(&permits);
            tasks.spawn(async move { (index, source.fetch(&(), user, permits).await) });
        }
        let mut outcomes: Vec<Option<Result<Snapshot, Failure>>> = vec![None; logins.len()];
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((index, fetched)) => outcomes[index] = Some(fetched.map_err(one_failure)),
                Err(panic) => {
                    tracing::error!(%user, error = %panic, "a Plaid Item's fetch task failed")
                }
            }
        }
        let mut snapshot = Snapshot {
            provider: Provider::Plaid,
            connections: Vec::new(),
            accounts: Vec::new(),
            failures: Vec::new(),
            left_out: Vec::new(),
        };
        for ((item, _), outcome) in logins.iter().zip(outcomes) {
            let outcome = outcome
                .unwrap_or_else(|| Err(Failure::task_failed("not fetched: its task failed")));
            let change = match &outcome {
                Ok(_) => Some(PlaidItemStatusChange::Synced { at: Utc::now() }),
                Err(failure) => failing_change(failure),
            };
            if let (Some(item), Some(change)) = (item, change) {
                store.set_plaid_item_status(user, item, change).await?;
            }
            match outcome {
                Ok(fetched) => {
                    snapshot.connections.extend(fetched.connections);
                    snapshot.accounts.extend(fetched.accounts);
                    snapshot.failures.extend(fetched.failures);
                    snapshot.left_out.extend(fetched.left_out);
                }
                Err(failure) => snapshot.failures.push(failure),
            }
        }
        if snapshot.failures.len() == logins.len() {
            return Err(SyncError::Unreachable {
                provider: Provider::Plaid,
                failures: snapshot.failures,
            });
        }
        Ok(snapshot)
    }
}

/// A one-Item fetch's error as that Item's failure.
fn one_failure(error: SyncError) -> Failure {
    match error {
        SyncError::Unreachable { mut failures, .. } if failures.len() == 1 => failures.remove(0),
        other => Failure::Sync(Arc::new(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaids_item_codes_set_the_status_they_name_and_other_errors_leave_it() {
        assert_eq!(
            item_status_for_code("ITEM_LOGIN_REQUIRED"),
            Some(PlaidItemStatus::LoginRequired)
        );
        assert_eq!(
            item_status_for_code("PENDING_EXPIRATION"),
            Some(PlaidItemStatus::PendingExpiration)
        );
        assert_eq!(
            item_status_for_code("PENDING_DISCONNECT"),
            Some(PlaidItemStatus::PendingDisconnect)
        );
        assert_eq!(
            item_status_for_code("USER_PERMISSION_REVOKED"),
            Some(PlaidItemStatus::Revoked)
        );
        for unrelated in [
            "RATE_LIMIT_EXCEEDED",
            "INTERNAL_SERVER_ERROR",
            "PRODUCT_NOT_READY",
        ] {
            assert_eq!(item_status_for_code(unrelated), None, "{unrelated}");
        }
    }
}
