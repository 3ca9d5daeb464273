//! Following Alpaca's trade event stream: a long-running task that updates stored orders as events come.
//!
//! [`SyncEngine::follow_alpaca_trade_events`] starts it and hands back a [`TradeEventFollower`]. For each event
//! the task finds the stored Alpaca account the event names, across users
//! ([`EventStreamRepository::accounts_by_provider_id`]); under that user's lock (in this process, then the
//! store's), in one unit of writes, it moves the stream's position to the event
//! ([`EventStreamRepository::advance_stream`]) and, only if the position moved, writes the order as the event
//! shows it, into that user's account and no other. A crash between the two saves neither; an event already
//! applied (seen again after a reconnect, or applied by another follower) moves nothing and writes nothing.
//!
//! An event naming an account no user holds, or one that two users hold, is reported and not applied; so is an
//! event that does not read. The position still moves past it, so it is reported once.
//!
//! A dropped connection is reconnected with backoff, resuming from the stored position (`since_id`). Without a
//! stored position the stream starts with live events (the spec: "if `since` or `since_id` not specified this
//! will not return any historic data"): a service that needs the orders of before runs a sync.
//! [`TradeEventFollower::stop`] ends the task between two events.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tributary_domain::{Provider, UserId};
use tributary_provider::alpaca::{
    AlpacaClient, RefusedTradeEvent, TradeEvent, TradeEventId, TradeStreamItem,
};
use tributary_provider::capability::AccountRef;
use tributary_repo::{EventStreamRepository, Store, StreamEventId, StreamName};

use super::AlpacaPlugin;
use crate::{SyncEngine, SyncError, UserLocks};

/// The stream name positions are stored under unless told otherwise.
pub const DEFAULT_TRADE_EVENTS_STREAM: &str = "alpaca/trade-events";

/// How the follower runs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FollowOptions {
    /// The name its position is stored under: one per Alpaca correspondent (broker key) sharing the database.
    pub stream: StreamName,
    /// The first wait before reconnecting; doubled after each failed connection.
    pub first_backoff: Duration,
    /// The longest wait between two connections.
    pub max_backoff: Duration,
}

impl Default for FollowOptions {
    fn default() -> Self {
        Self {
            stream: StreamName::parse(DEFAULT_TRADE_EVENTS_STREAM)
                .expect("the default stream name is valid"),
            first_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(60),
        }
    }
}

impl FollowOptions {
    /// The same options with another stream name.
    pub fn with_stream(mut self, stream: StreamName) -> Self {
        self.stream = stream;
        self
    }

    /// The same options with other reconnection waits.
    pub fn with_backoff(mut self, first: Duration, max: Duration) -> Self {
        self.first_backoff = first;
        self.max_backoff = max.max(first);
        self
    }
}

/// An event the follower did not apply, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnappliedTradeEvent {
    /// No user holds the Alpaca account the event names: nothing is written for anyone.
    NoOwner {
        /// The event.
        event: TradeEventId,
        /// Alpaca's account id.
        account: String,
        /// Alpaca's order id.
        order: String,
    },
    /// More than one user holds the account: which one the order belongs to cannot be told, so none gets it.
    SeveralOwners {
        /// The event.
        event: TradeEventId,
        /// Alpaca's account id.
        account: String,
        /// How many users hold it.
        owners: usize,
    },
    /// The event does not read.
    Refused(RefusedTradeEvent),
    /// The event could not be applied (the store failed); it is tried again from the stored position.
    Failed {
        /// The event.
        event: TradeEventId,
        /// Why.
        reason: String,
    },
}

/// What the follower has done so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FollowProgress {
    /// Events applied: an order written and the position moved with it.
    pub applied: u64,
    /// Events already applied before (the position was at or past them): nothing written.
    pub already_applied: u64,
    /// Events reported and not applied, oldest first (the last [`MAX_REPORTED`]).
    pub unapplied: Vec<UnappliedTradeEvent>,
    /// Connections made.
    pub connections: u64,
    /// Why the last connection ended or failed, if one did.
    pub last_disconnect: Option<String>,
    /// The position after the last event handled.
    pub position: Option<StreamEventId>,
}

/// How many unapplied events [`FollowProgress::unapplied`] keeps.
pub const MAX_REPORTED: usize = 1000;

/// The running follower. [`Self::stop`] ends the task and waits for it; dropping the follower ends it too
/// (between two events), without waiting.
#[derive(Debug)]
pub struct TradeEventFollower {
    stop: watch::Sender<bool>,
    progress: watch::Receiver<FollowProgress>,
    task: JoinHandle<Result<(), SyncError>>,
}

impl TradeEventFollower {
    /// What it has done so far.
    pub fn progress(&self) -> FollowProgress {
        self.progress.borrow().clone()
    }

    /// Waits until `done` holds for the progress (checked at once, then at each change); `None` if the task
    /// ended first.
    pub async fn wait_until(
        &mut self,
        mut done: impl FnMut(&FollowProgress) -> bool,
    ) -> Option<FollowProgress> {
        self.progress
            .wait_for(|progress| done(progress))
            .await
            .ok()
            .map(|progress| progress.clone())
    }

    /// Ends the task between two events (an event being applied is finished first) and waits for it.
    ///
    /// # Errors
    /// The task's, if it had ended on its own with one (its stored position could not be read).
    pub async fn stop(self) -> Result<FollowProgress, SyncError> {
        let _ = self.stop.send(true);
        let ended = self.task.await;
        let progress = self.progress.borrow().clone();
        match ended {
            Ok(result) => result.map(|()| progress),
            Err(join) if join.is_cancelled() => Ok(progress),
            Err(join) => std::panic::resume_unwind(join.into_panic()),
        }
    }

    /// Ends the task at once, wherever it is, as a crash would (a unit of writes left open is rolled back).
    /// For tests of what a crash leaves; a service calls [`Self::stop`].
    pub fn abort(self) {
        self.task.abort();
    }
}

impl<S: Store + EventStreamRepository + 'static> SyncEngine<S> {
    /// Starts following Alpaca's trade events (`GET /v2/events/trades`) from the position stored under
    /// `options.stream`; see [`self`](crate::alpaca::events).
    ///
    /// # Errors
    /// [`SyncError::NoClient`] if Alpaca is not wired in ([`Self::with_alpaca`]).
    pub fn follow_alpaca_trade_events(
        &self,
        options: FollowOptions,
    ) -> Result<TradeEventFollower, SyncError> {
        let client = self
            .plugin::<AlpacaPlugin>()
            .map(|plugin| Arc::clone(plugin.client()))
            .ok_or(SyncError::NoClient {
                provider: Provider::Alpaca,
            })?;
        let (stop, stopped) = watch::channel(false);
        let (report, progress) = watch::channel(FollowProgress::default());
        let follower = Follower {
            store: Arc::clone(&self.store),
            locks: self.locks.clone(),
            client,
            options,
            stopped,
            report,
        };
        let task = tokio::spawn(follower.run());
        Ok(TradeEventFollower {
            stop,
            progress,
            task,
        })
    }
}

struct Follower<S> {
    store: Arc<S>,
    locks: UserLocks,
    client: Arc<AlpacaClient>,
    options: FollowOptions,
    stopped: watch::Receiver<bool>,
    report: watch::Sender<FollowProgress>,
}

/// What one event came to.
enum Applied {
    Yes,
    AlreadyBefore,
    No(UnappliedTradeEvent),
}

impl<S: Store + EventStreamRepository + 'static> Follower<S> {
    async fn run(mut self) -> Result<(), SyncError> {
        let mut backoff = self.options.first_backoff;
        while !*self.stopped.borrow() {
            let position = self.store.stream_position(&self.options.stream).await;
            let since = match position {
                Ok(position) => position
                    .map(|id| TradeEventId::parse(id.as_str()))
                    .transpose()?,
                Err(error) => {
                    self.disconnected(&error.to_string());
                    if self.pause(&mut backoff).await {
                        break;
                    }
                    continue;
                }
            };
            match self.client.trade_events(since.as_ref()).await {
                Ok(mut events) => {
                    self.update(|progress| progress.connections += 1);
                    loop {
                        let next = tokio::select! {
                            next = events.next() => next,
                            _ = self.stopped.changed() => return Ok(()),
                        };
                        match next {
                            Some(Ok(item)) => {
                                if self.handle(item).await {
                                    backoff = self.options.first_backoff;
                                } else {
                                    // The store failed: reconnect from the stored position.
                                    break;
                                }
                            }
                            Some(Err(error)) => {
                                self.disconnected(&error.to_string());
                                break;
                            }
                            None => {
                                self.disconnected("the stream ended");
                                break;
                            }
                        }
                    }
                }
                Err(error) => self.disconnected(&error.to_string()),
            }
            if self.pause(&mut backoff).await {
                break;
            }
        }
        Ok(())
    }

    /// Waits `backoff` (doubling it for next time, up to the maximum); true if stopped meanwhile.
    async fn pause(&mut self, backoff: &mut Duration) -> bool {
        let wait = *backoff;
        *backoff = (*backoff * 2).min(self.options.max_backoff);
        tokio::select! {
            () = tokio::time::sleep(wait) => *self.stopped.borrow(),
            _ = self.stopped.changed() => true,
        }
    }

    fn update(&self, change: impl FnOnce(&mut FollowProgress)) {
        self.report.send_modify(change);
    }

    fn disconnected(&self, why: &str) {
        tracing::info!(
            reason = why,
            "the Alpaca trade event stream ended; reconnecting"
        );
        self.update(|progress| progress.last_disconnect = Some(why.to_owned()));
    }

    fn unapplied(&self, what: UnappliedTradeEvent) {
        tracing::warn!(event = ?what, "an Alpaca trade event was not applied");
        self.update(|progress| {
            if progress.unapplied.len() >= MAX_REPORTED {
                progress.unapplied.remove(0);
            }
            progress.unapplied.push(what);
        });
    }

    /// Handles one item; false when the store failed and the stream should be read again from the stored
    /// position.
    async fn handle(&self, item: TradeStreamItem) -> bool {
        let (id, outcome) = match item {
            TradeStreamItem::Event(event) => {
                let id = event.id.clone();
                let outcome = self.apply(&event).await;
                (Some(id), outcome)
            }
            TradeStreamItem::Refused(refused) => {
                let id = refused.id.clone();
                let moved = match &id {
                    Some(id) => self.skip_past(id).await,
                    None => Ok(true),
                };
                let outcome = moved.map(|moved| {
                    if moved {
                        Applied::No(UnappliedTradeEvent::Refused(refused))
                    } else {
                        Applied::AlreadyBefore
                    }
                });
                (id, outcome)
            }
        };
        match outcome {
            Ok(Applied::Yes) => self.update(|progress| {
                progress.applied += 1;
                progress.position = id.as_ref().and_then(stream_id);
            }),
            Ok(Applied::AlreadyBefore) => self.update(|progress| progress.already_applied += 1),
            Ok(Applied::No(what)) => {
                self.unapplied(what);
                self.update(|progress| {
                    if let Some(id) = id.as_ref().and_then(stream_id) {
                        progress.position = Some(id);
                    }
                });
            }
            Err(error) => {
                if let Some(event) = id {
                    self.unapplied(UnappliedTradeEvent::Failed {
                        event,
                        reason: error.to_string(),
                    });
                }
                return false;
            }
        }
        true
    }

    /// Moves the position past an event that is not applied; false if it was already past it.
    async fn skip_past(&self, id: &TradeEventId) -> Result<bool, SyncError> {
        let Some(position) = stream_id(id) else {
            return Ok(false);
        };
        Ok(self
            .store
            .advance_stream(None, &self.options.stream, &position)
            .await?)
    }

    async fn apply(&self, event: &TradeEvent) -> Result<Applied, SyncError> {
        let owners = self
            .store
            .accounts_by_provider_id(Provider::Alpaca, &event.account)
            .await?;
        let account = match owners.as_slice() {
            [account] => account,
            [] => {
                return self
                    .not_applied(
                        event,
                        UnappliedTradeEvent::NoOwner {
                            event: event.id.clone(),
                            account: event.account.as_str().to_owned(),
                            order: event.order_id.as_str().to_owned(),
                        },
                    )
                    .await;
            }
            several => {
                return self
                    .not_applied(
                        event,
                        UnappliedTradeEvent::SeveralOwners {
                            event: event.id.clone(),
                            account: event.account.as_str().to_owned(),
                            owners: several.len(),
                        },
                    )
                    .await;
            }
        };
        let user = account.user_id;
        let reference = AccountRef {
            user_id: user,
            account_id: account.id,
            provider_account_id: account.provider_account_id.clone(),
        };
        let rows = event.order_rows(&reference).map_err(SyncError::from)?;
        let Some(position) = stream_id(&event.id) else {
            return Ok(Applied::AlreadyBefore);
        };
        self.in_users_unit(user, |store| async move {
            if !store
                .advance_stream(Some(user), &self.options.stream, &position)
                .await?
            {
                return Ok(Applied::AlreadyBefore);
            }
            store.upsert_orders(user, &rows).await?;
            Ok(Applied::Yes)
        })
        .await
    }

    async fn not_applied(
        &self,
        event: &TradeEvent,
        what: UnappliedTradeEvent,
    ) -> Result<Applied, SyncError> {
        Ok(if self.skip_past(&event.id).await? {
            Applied::No(what)
        } else {
            Applied::AlreadyBefore
        })
    }

    /// Runs `writes` under `user`'s lock (this process's, then the store's), as one unit of writes saved whole
    /// or not at all.
    async fn in_users_unit<T, F, Fut>(&self, user: UserId, writes: F) -> Result<T, SyncError>
    where
        F: FnOnce(S) -> Fut,
        Fut: Future<Output = Result<T, SyncError>>,
    {
        let _local = self.locks.lock(user).await;
        let lock = self.store.lock_user(user).await?;
        let bound = self.store.within(&lock)?;
        let result = async {
            lock.begin_writes().await?;
            let done = writes(bound).await?;
            lock.commit_writes().await?;
            Ok(done)
        }
        .await;
        if let Err(error) = lock.release().await {
            tracing::warn!(%user, %error, "releasing the user's lock failed; its connection was closed");
        }
        result
    }
}

/// The provider's event id as the store keeps it.
fn stream_id(id: &TradeEventId) -> Option<StreamEventId> {
    StreamEventId::parse(id.as_str()).ok()
}
