//! Where a provider's transaction history comes from: paged feeds, one per login or per account, behind one
//! object-safe trait, so the engine's incremental sync is written once for every provider.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::NaiveDate;
use tributary_domain::{Provider, ProviderAccountId, ProviderItemId, UserId};
use tributary_provider::ProviderError;
use tributary_provider::capability::{
    AccountInfo, Aggregation, BrokerageAccounts, PageCursor, ProviderConnectionId, TransactionPage,
};

use crate::source::{Logins, linked};
use crate::{Failure, SyncError};

/// One page at a time of a provider's transactions between two days (both included): a Plaid Item's, a
/// SnapTrade user's, or one account's. Implement it over a client call to plug a provider's history in
/// (`Aggregation::transactions` is wrapped by [`AggregationHistory`]; a per-account call such as Alpaca's
/// activities is a `TransactionPages` whose feed covers one account).
#[async_trait]
pub trait TransactionPages: Send + Sync {
    /// The page starting at `cursor` (`None`: the first); its `next` is where the following one starts.
    async fn page(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        cursor: Option<PageCursor>,
    ) -> Result<TransactionPage, ProviderError>;
}

/// A paged history and the accounts its pages cover: every one of them is fetched in full over the range
/// asked, so a stored transaction of theirs inside that range that no page returns was withdrawn.
pub struct TransactionFeed {
    /// The accounts the pages cover, as the provider reports them.
    pub accounts: Vec<AccountInfo>,
    /// The pages.
    pub pages: Box<dyn TransactionPages>,
}

impl std::fmt::Debug for TransactionFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransactionFeed")
            .field("accounts", &self.accounts.len())
            .finish_non_exhaustive()
    }
}

/// Which part of a user's history a sync asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HistoryScope {
    /// Every account of every provider.
    All,
    /// The accounts of one Plaid Item.
    Item(ProviderItemId),
    /// One account.
    Account(ProviderAccountId),
}

impl HistoryScope {
    /// Whether `account` is one the scope asks for.
    pub(crate) fn covers(&self, account: &AccountInfo) -> bool {
        match self {
            Self::All => true,
            Self::Item(item) => {
                account.provider_connection_id == Some(ProviderConnectionId::Item(item.clone()))
            }
            Self::Account(id) => &account.provider_account_id == id,
        }
    }
}

/// A provider whose transaction history the engine syncs: the user's feeds, one per login (or per account).
#[async_trait]
pub trait HistorySource<S>: Send + Sync {
    /// The provider.
    fn provider(&self) -> Provider;

    /// The user's feeds; a login whose accounts could not be listed is its failure in the list.
    ///
    /// # Errors
    /// [`SyncError::NotLinked`] when the user has no credentials there; the repository's.
    async fn feeds(
        &self,
        store: &S,
        user: UserId,
    ) -> Result<Vec<Result<TransactionFeed, Failure>>, SyncError>;
}

/// An [`Aggregation`] client's history: per login, its accounts and its pages (`Aggregation::transactions`).
#[derive(Debug)]
pub struct AggregationHistory<A, R> {
    client: Arc<A>,
    logins: R,
}

impl<A, R> AggregationHistory<A, R> {
    /// The client, finding credentials with `logins`.
    pub fn new(client: Arc<A>, logins: R) -> Self {
        Self { client, logins }
    }
}

/// One login's pages.
struct LoginPages<A: Aggregation> {
    client: Arc<A>,
    login: A::Login,
}

#[async_trait]
impl<A: Aggregation + 'static> TransactionPages for LoginPages<A> {
    async fn page(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        cursor: Option<PageCursor>,
    ) -> Result<TransactionPage, ProviderError> {
        self.client
            .transactions(&self.login, from, to, cursor)
            .await
    }
}

#[async_trait]
impl<S, A, R> HistorySource<S> for AggregationHistory<A, R>
where
    S: Send + Sync,
    A: Aggregation + 'static,
    A::Login: 'static,
    R: Logins<S, Login = A::Login>,
{
    fn provider(&self) -> Provider {
        self.client.provider()
    }

    async fn feeds(
        &self,
        store: &S,
        user: UserId,
    ) -> Result<Vec<Result<TransactionFeed, Failure>>, SyncError> {
        let logins = linked(&self.logins, store, user, self.client.provider()).await?;
        let mut feeds = Vec::with_capacity(logins.len());
        for login in logins {
            feeds.push(match self.client.accounts(&login).await {
                Ok(accounts) => Ok(TransactionFeed {
                    accounts,
                    pages: Box::new(LoginPages {
                        client: Arc::clone(&self.client),
                        login,
                    }),
                }),
                Err(error) => Err(Failure::from(error)),
            });
        }
        Ok(feeds)
    }
}

/// A [`BrokerageAccounts`] client's history: one feed per account, its pages
/// (`BrokerageAccounts::account_transactions`). Alpaca's account activities come this way.
#[derive(Debug)]
pub struct BrokerageHistory<B, R> {
    client: Arc<B>,
    provider: Provider,
    logins: R,
}

impl<B, R> BrokerageHistory<B, R> {
    /// The client for `provider`, finding the user's accounts with `logins`.
    pub fn new(client: Arc<B>, provider: Provider, logins: R) -> Self {
        Self {
            client,
            provider,
            logins,
        }
    }
}

/// One account's pages.
struct AccountPages<B: BrokerageAccounts> {
    client: Arc<B>,
    login: B::Login,
    account: ProviderAccountId,
}

#[async_trait]
impl<B: BrokerageAccounts + 'static> TransactionPages for AccountPages<B> {
    async fn page(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        cursor: Option<PageCursor>,
    ) -> Result<TransactionPage, ProviderError> {
        self.client
            .account_transactions(&self.login, &self.account, from, to, cursor)
            .await
    }
}

#[async_trait]
impl<S, B, R> HistorySource<S> for BrokerageHistory<B, R>
where
    S: Send + Sync,
    B: BrokerageAccounts + 'static,
    B::Login: 'static,
    R: Logins<S, Login = (B::Login, ProviderAccountId)>,
{
    fn provider(&self) -> Provider {
        self.provider
    }

    async fn feeds(
        &self,
        store: &S,
        user: UserId,
    ) -> Result<Vec<Result<TransactionFeed, Failure>>, SyncError> {
        let logins = linked(&self.logins, store, user, self.provider).await?;
        let mut feeds = Vec::with_capacity(logins.len());
        for (login, account) in logins {
            feeds.push(
                match self.client.brokerage_account(&login, &account).await {
                    Ok(info) => Ok(TransactionFeed {
                        accounts: vec![info],
                        pages: Box::new(AccountPages {
                            client: Arc::clone(&self.client),
                            login,
                            account,
                        }),
                    }),
                    Err(error) => Err(Failure::from(error)),
                },
            );
        }
        Ok(feeds)
    }
}

/// A client that lists a login's accounts ([`Aggregation`]) and pages one account's transactions
/// ([`BrokerageAccounts`]), SnapTrade's: one feed per account, so the accounts are read side by side and a webhook
/// naming one account reads only that one's pages.
#[derive(Debug)]
pub struct PerAccountHistory<C, R> {
    client: Arc<C>,
    logins: R,
}

impl<C, R> PerAccountHistory<C, R> {
    /// The client, finding credentials with `logins`.
    pub fn new(client: Arc<C>, logins: R) -> Self {
        Self { client, logins }
    }
}

#[async_trait]
impl<S, C, L, R> HistorySource<S> for PerAccountHistory<C, R>
where
    S: Send + Sync,
    C: Aggregation<Login = L> + BrokerageAccounts<Login = L> + 'static,
    L: Clone + Send + Sync + 'static,
    R: Logins<S, Login = L>,
{
    fn provider(&self) -> Provider {
        Aggregation::provider(self.client.as_ref())
    }

    async fn feeds(
        &self,
        store: &S,
        user: UserId,
    ) -> Result<Vec<Result<TransactionFeed, Failure>>, SyncError> {
        let provider = Aggregation::provider(self.client.as_ref());
        let logins = linked(&self.logins, store, user, provider).await?;
        let mut feeds = Vec::new();
        for login in logins {
            match self.client.accounts(&login).await {
                Ok(accounts) => feeds.extend(accounts.into_iter().map(|info| {
                    let account = info.provider_account_id.clone();
                    Ok(TransactionFeed {
                        accounts: vec![info],
                        pages: Box::new(AccountPages {
                            client: Arc::clone(&self.client),
                            login: login.clone(),
                            account,
                        }) as Box<dyn TransactionPages>,
                    })
                })),
                Err(error) => feeds.push(Err(Failure::from(error))),
            }
        }
        Ok(feeds)
    }
}
