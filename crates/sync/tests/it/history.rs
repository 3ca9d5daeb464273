//! Transaction histories and value points through the engine, on both stores, against the sandbox: the first
//! sync pages the whole history in, a re-sync writes nothing, revisions and withdrawals inside the window are
//! followed and history outside it is untouched, a fetch cut short keeps what it stored and is finished by the
//! next sync, the providers' transaction webhooks trigger it (once), and a day's value points are one per
//! account and total per currency.
#![cfg(all(feature = "snaptrade", feature = "plaid", feature = "alpaca"))]

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{Days, NaiveDate, Utc};
use rust_decimal::Decimal;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use sqlx::PgPool;
use tributary_domain::{
    AccountType, ConnectionType, Currency, InstitutionName, InvestmentTransaction,
    NewInvestmentAccount, Provider, ProviderAccountId, ProviderItemId, ProviderTransactionId,
    RawRecord, SignedAmount, TransactionType, UserId,
};
use tributary_provider::capability::{
    Aggregation, BrokerageAccounts, PageCursor, Transaction, TransactionPage, UnreadableItem,
};
use tributary_provider::plaid::AccessToken;
use tributary_repo::{Keyring, MemoryStore, PgStore, SecretKey, Store, TransactionQuery};
use tributary_sandbox::SeedItem;
use tributary_sandbox::plaid::SignedPlaidWebhook;
use tributary_spec::Spec;
use tributary_sync::history::{HistoryScope, HistorySource, TransactionFeed, TransactionPages};
use tributary_sync::{
    AccountHistory, HistoryReport, Outcome, PlaidWebhookOutcome, SyncReport, WebhookOutcome,
};

use crate::seams::counting::CountingStore;
use crate::support::World;

/// Transactions in the seeded Item: three of Plaid's pages of 500 (the client asks for the largest).
const PLAID_TRANSACTIONS: u64 = 1_200;

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

/// A Plaid Item of two accounts holding `transactions` transactions, its token held by the caller.
fn seed_plaid<S: Store + 'static>(world: &World<S>, transactions: u64) -> AccessToken {
    let item = world
        .sandbox
        .plaid()
        .seed_item(SeedItem::new(2, 3, transactions));
    let token = AccessToken::new(SecretString::from(item.access_token.as_str()));
    world.plaid_items.add(world.user, token.clone());
    token
}

/// Every transaction id a paged fetch returns, sorted: pages read to the end, none left out.
async fn every_id<F, Fut>(mut fetch: F) -> Vec<String>
where
    F: FnMut(Option<PageCursor>) -> Fut,
    Fut: std::future::Future<Output = Result<TransactionPage, tributary_provider::ProviderError>>,
{
    let mut ids = Vec::new();
    let mut cursor = None;
    loop {
        let page = fetch(cursor).await.unwrap();
        assert!(page.left_out.is_empty(), "{:?}", page.left_out);
        ids.extend(
            page.transactions
                .iter()
                .map(|t| t.provider_transaction_id.as_str().to_owned()),
        );
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    ids.sort();
    ids
}

/// The first day of the engine's first window.
fn first_window_start() -> NaiveDate {
    today() - Days::new(tributary_sync::history::DEFAULT_HISTORY_DAYS)
}

/// Every transaction Plaid holds for `token` over the engine's first window, read straight from the client.
async fn at_plaid<S: Store + 'static>(world: &World<S>, token: &AccessToken) -> Vec<String> {
    every_id(|cursor| {
        world
            .plaid
            .transactions(token, first_window_start(), today(), cursor)
    })
    .await
}

async fn stored<S: Store + 'static>(world: &World<S>) -> Vec<InvestmentTransaction> {
    world
        .store()
        .list_transactions(world.user, &TransactionQuery::latest(u32::MAX))
        .await
        .unwrap()
}

async fn stored_ids<S: Store + 'static>(world: &World<S>) -> Vec<String> {
    let mut ids: Vec<String> = stored(world)
        .await
        .into_iter()
        .map(|t| t.transaction.provider_transaction_id.as_str().to_owned())
        .collect();
    ids.sort();
    ids
}

fn history_of(report: &SyncReport, provider: Provider) -> &HistoryReport {
    report
        .history
        .iter()
        .find(|h| h.provider == provider)
        .unwrap_or_else(|| panic!("{provider}'s history was synced: {:?}", report.history))
}

fn inserted(accounts: &[AccountHistory]) -> usize {
    accounts.iter().map(|a| a.written.inserted).sum()
}

pub async fn a_first_sync_stores_the_whole_history_page_by_page<S: Store + 'static>(
    world: World<S>,
) {
    let token = seed_plaid(&world, PLAID_TRANSACTIONS);
    let report = world.engine.sync_user(world.user).await.unwrap();
    assert!(!report.has_failures(), "{:?}", report.failures());

    let plaid = history_of(&report, Provider::Plaid);
    assert_eq!(plaid.outcome, Outcome::Synced);
    assert_eq!(plaid.accounts.len(), 2, "both accounts of the Item");
    let expected = at_plaid(&world, &token).await;
    assert_eq!(expected.len(), PLAID_TRANSACTIONS as usize);
    assert_eq!(stored_ids(&world).await, expected);
    assert_eq!(inserted(&plaid.accounts), expected.len());
    for account in &plaid.accounts {
        assert_eq!(account.outcome, Outcome::Synced);
        assert_eq!(account.synced_through, Some(today()));
        assert_eq!(
            account.from,
            today() - Days::new(tributary_sync::history::DEFAULT_HISTORY_DAYS)
        );
        assert_eq!((account.removed, account.left_out), (0, 0));
    }
    let pages = world
        .sandbox
        .plaid()
        .log()
        .count("POST", "/investments/transactions/get");
    // The engine's three pages, then the test's own three.
    assert_eq!(pages, 6, "one request per page of 500");
}

pub async fn an_unchanged_resync_sends_no_transaction_to_the_store<S: Store + 'static>(
    world: World<CountingStore<S>>,
) {
    seed_plaid(&world, PLAID_TRANSACTIONS);
    world.engine.sync_user(world.user).await.unwrap();
    let before = stored(&world).await;
    let removals = world.store().calls("remove_transactions");
    let upserts = world.store().calls("upsert_transactions");

    let again = world.engine.sync_user(world.user).await.unwrap();
    assert!(!again.has_failures(), "{:?}", again.failures());
    let plaid = history_of(&again, Provider::Plaid);
    let unchanged: usize = plaid.accounts.iter().map(|a| a.written.unchanged).sum();
    assert!(unchanged > 0, "the overlap was fetched again: {plaid:?}");
    for account in &plaid.accounts {
        assert_eq!(account.written.written(), 0, "{account:?}");
        assert_eq!(account.removed, 0);
        assert_eq!(
            account.from,
            today() - Days::new(tributary_sync::history::DEFAULT_OVERLAP_DAYS),
            "a re-sync fetches the overlap only"
        );
    }
    assert_eq!(world.store().calls("remove_transactions"), removals);
    assert_eq!(
        world.store().calls("upsert_transactions"),
        upserts,
        "each returned transaction matched its stored fingerprint, the raw record read back included"
    );
    assert_eq!(
        stored(&world).await,
        before,
        "not a row rewritten, not even its updated_at"
    );
}

pub async fn a_revision_inside_the_window_is_followed_and_history_outside_it_untouched<
    S: Store + 'static,
>(
    world: World<S>,
) {
    seed_plaid(&world, PLAID_TRANSACTIONS);
    world.engine.sync_user(world.user).await.unwrap();
    let all = stored(&world).await;
    let recent: Vec<&InvestmentTransaction> = all
        .iter()
        .filter(|t| t.transaction.trade_date >= today() - Days::new(10))
        .collect();
    let old = all
        .iter()
        .find(|t| t.transaction.trade_date < today() - Days::new(200))
        .expect("a transaction long before the overlap");
    let (revised, withdrawn) = (recent[0], recent[1]);
    let id = |t: &InvestmentTransaction| t.transaction.provider_transaction_id.as_str().to_owned();
    // Plaid's sign: positive when cash is debited; stored, it is cash out.
    world
        .sandbox
        .plaid()
        .revise_transaction(&id(revised), json!(4321.5));
    world.sandbox.plaid().withdraw_transaction(&id(withdrawn));
    world.sandbox.plaid().withdraw_transaction(&id(old));

    let report = world.engine.sync_user(world.user).await.unwrap();
    assert!(!report.has_failures(), "{:?}", report.failures());
    let plaid = history_of(&report, Provider::Plaid);
    let updated: usize = plaid.accounts.iter().map(|a| a.written.updated).sum();
    let removed: usize = plaid.accounts.iter().map(|a| a.removed).sum();
    assert_eq!((updated, removed), (1, 1), "{plaid:?}");

    let after = stored(&world).await;
    let find = |wanted: &InvestmentTransaction| {
        after.iter().find(|t| {
            t.transaction.provider_transaction_id == wanted.transaction.provider_transaction_id
        })
    };
    assert_eq!(
        find(revised).unwrap().transaction.amount,
        SignedAmount::parse_exact("-4321.5").unwrap()
    );
    assert!(find(withdrawn).is_none(), "withdrawn inside the window");
    assert_eq!(
        find(old),
        Some(old),
        "outside the window: neither fetched nor removed"
    );
    assert_eq!(after.len(), all.len() - 1);
}

pub async fn a_fetch_failing_midway_keeps_its_pages_and_the_next_sync_finishes_it<
    S: Store + 'static,
>(
    world: World<S>,
) {
    let token = seed_plaid(&world, PLAID_TRANSACTIONS);
    world
        .sandbox
        .plaid()
        .fail_transactions_from_offset(Some(500));

    let report = world.engine.sync_user(world.user).await.unwrap();
    let providers: Vec<_> = report
        .providers
        .iter()
        .map(|p| (p.provider, p.outcome.clone()))
        .collect();
    assert!(
        providers.contains(&(Provider::Plaid, Outcome::Synced)),
        "the holdings synced all the same: {providers:?}"
    );
    assert!(report.holdings_count > 0);
    let plaid = history_of(&report, Provider::Plaid);
    for account in &plaid.accounts {
        assert!(account.outcome.is_failed(), "{account:?}");
        assert_eq!(account.synced_through, None, "not advanced");
        assert_eq!(account.removed, 0);
    }
    assert_eq!(
        inserted(&plaid.accounts),
        500,
        "the first page was stored before the second failed"
    );
    assert_eq!(stored(&world).await.len(), 500);
    assert!(report.has_failures());
    assert!(
        report
            .failures()
            .iter()
            .any(|f| f.part == tributary_sync::FailedPart::History),
        "{:?}",
        report.failures()
    );
    for account in stored_accounts(&world, Provider::Plaid).await {
        assert_eq!(
            world
                .store()
                .transactions_synced_through(world.user, account)
                .await
                .unwrap(),
            None
        );
    }

    world.sandbox.plaid().fail_transactions_from_offset(None);
    let finished = world.engine.sync_user(world.user).await.unwrap();
    assert!(!finished.has_failures(), "{:?}", finished.failures());
    let plaid = history_of(&finished, Provider::Plaid);
    assert_eq!(inserted(&plaid.accounts), PLAID_TRANSACTIONS as usize - 500);
    assert_eq!(stored_ids(&world).await, at_plaid(&world, &token).await);
    for account in &plaid.accounts {
        assert_eq!(account.synced_through, Some(today()));
    }
}

async fn stored_accounts<S: Store + 'static>(
    world: &World<S>,
    provider: Provider,
) -> Vec<tributary_domain::AccountId> {
    world
        .store()
        .list_accounts(world.user)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.provider == provider)
        .map(|a| a.id)
        .collect()
}

pub async fn the_days_value_is_one_point_per_account_and_total_per_currency_and_a_second_sync_updates_it<
    S: Store + 'static,
>(
    world: World<S>,
) {
    seed_plaid(&world, 40);
    world.connect_snaptrade(ConnectionType::Trade).await;
    let first = world.engine.sync_user(world.user).await.unwrap();
    assert!(!first.has_failures(), "{:?}", first.failures());
    assert_eq!(first.value_points.outcome, Outcome::Synced);
    let points = world
        .engine
        .value_history(world.user, today(), today())
        .await
        .unwrap();
    assert_eq!(first.value_points.written, points.len());

    let accounts = world.store().list_accounts(world.user).await.unwrap();
    let mut keys: Vec<_> = points
        .iter()
        .map(|p| (p.point.account_id, p.point.currency.clone()))
        .collect();
    let count = keys.len();
    keys.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    keys.dedup();
    assert_eq!(keys.len(), count, "one point per account, day and currency");
    for account in &accounts {
        assert!(
            points
                .iter()
                .any(|p| p.point.account_id == Some(account.id)),
            "account {} has a point",
            account.provider_account_id
        );
    }
    for total in points.iter().filter(|p| p.point.account_id.is_none()) {
        let in_currency: Vec<_> = points
            .iter()
            .filter(|p| p.point.account_id.is_some() && p.point.currency == total.point.currency)
            .collect();
        let sum: Decimal = in_currency.iter().map(|p| p.point.market_value.get()).sum();
        assert_eq!(
            total.point.market_value.get(),
            sum,
            "the total in {} sums its accounts, never another currency",
            total.point.currency
        );
        let all_known = in_currency.iter().all(|p| p.point.cash.is_some());
        assert_eq!(total.point.cash.is_some(), all_known, "never a partial sum");
    }
    // Net contributions: known once each account's history is stored in full.
    for point in points.iter().filter(|p| p.point.account_id.is_some()) {
        assert!(point.point.net_contributions.is_some(), "{point:?}");
    }

    let second = world.engine.sync_user(world.user).await.unwrap();
    assert!(!second.has_failures(), "{:?}", second.failures());
    let again = world
        .engine
        .value_history(world.user, today(), today())
        .await
        .unwrap();
    assert_eq!(again.len(), points.len(), "updated, not added");
    let yesterday = today() - Days::new(1);
    assert!(
        world
            .engine
            .value_history(world.user, yesterday, yesterday)
            .await
            .unwrap()
            .is_empty(),
        "a day without a sync has no point"
    );
}

/// plaid-openapi.yml's `x-examples.example-1` of `schema`, naming `item` and sent from the sandbox.
fn plaid_example(schema: &str, item: &str) -> serde_json::Value {
    let mut body =
        Spec::load("plaid-openapi.yml").schema(schema)["x-examples"]["example-1"].clone();
    body["item_id"] = json!(item);
    body["environment"] = json!("sandbox");
    body
}

/// Each delivery signed a second after the one before, so two deliveries of one body are two tokens.
static SIGNED: AtomicI64 = AtomicI64::new(-120);

fn sign<S: Store + 'static>(world: &World<S>, body: &serde_json::Value) -> SignedPlaidWebhook {
    let at = Utc::now() + chrono::Duration::seconds(SIGNED.fetch_add(1, Ordering::SeqCst));
    world.sandbox.plaid().sign_webhook_at(body, at)
}

async fn link_plaid<S: Store + 'static>(world: &World<S>) -> ProviderItemId {
    let public_token = world
        .plaid
        .create_sandbox_public_token("ins_109508", &["investments".to_owned()])
        .await
        .unwrap();
    world
        .engine
        .plaid()
        .link(world.user, public_token.expose_secret())
        .await
        .unwrap()
        .item_id
}

pub async fn plaids_transactions_webhook_syncs_the_items_history_once<S: Store + 'static>(
    world: World<S>,
) {
    let item = link_plaid(&world).await;
    let all = stored(&world).await;
    assert!(!all.is_empty(), "linking synced the Item's history");
    let recent = all
        .iter()
        .find(|t| t.transaction.trade_date >= today() - Days::new(20))
        .expect("a recent transaction");
    let id = recent.transaction.provider_transaction_id.as_str();
    world.sandbox.plaid().revise_transaction(id, json!(12.5));

    for schema in [
        "InvestmentsDefaultUpdateWebhook",
        "InvestmentsHistoricalUpdateWebhook",
    ] {
        let delivery = sign(&world, &plaid_example(schema, item.as_str()));
        let outcome = world
            .engine
            .plaid()
            .handle_webhook(Some(&delivery.verification), delivery.body.as_bytes())
            .await
            .unwrap();
        let PlaidWebhookOutcome::HistorySynced {
            user,
            item_id,
            history,
        } = &outcome
        else {
            panic!("{schema}: {outcome:?}");
        };
        assert_eq!((*user, item_id), (world.user, &item));
        let updated: usize = history
            .iter()
            .flat_map(|h| &h.accounts)
            .map(|a| a.written.updated)
            .sum();
        let expected = usize::from(schema == "InvestmentsDefaultUpdateWebhook");
        assert_eq!(updated, expected, "{schema}: {history:?}");

        let before = stored(&world).await;
        let replay = world
            .engine
            .plaid()
            .handle_webhook(Some(&delivery.verification), delivery.body.as_bytes())
            .await
            .unwrap();
        assert_eq!(replay, PlaidWebhookOutcome::Replayed);
        assert_eq!(stored(&world).await, before, "a replay does nothing more");
    }
    let revised = stored(&world)
        .await
        .into_iter()
        .find(|t| t.transaction.provider_transaction_id.as_str() == id)
        .unwrap();
    assert_eq!(
        revised.transaction.amount,
        SignedAmount::parse_exact("-12.5").unwrap()
    );
}

pub async fn a_plaid_delivery_for_an_item_this_user_does_not_hold_touches_nothing<
    S: Store + 'static,
>(
    world: World<S>,
) {
    link_plaid(&world).await;
    let recent = stored(&world)
        .await
        .into_iter()
        .find(|t| t.transaction.trade_date >= today() - Days::new(20))
        .expect("a recent transaction");
    world.sandbox.plaid().revise_transaction(
        recent.transaction.provider_transaction_id.as_str(),
        json!(99),
    );
    let before = stored(&world).await;
    // Another customer's Item, or a made-up one: no user of this store holds it.
    let other = world.sandbox.plaid().seed_item(SeedItem::new(1, 1, 10));
    let delivery = sign(
        &world,
        &plaid_example("InvestmentsDefaultUpdateWebhook", &other.item_id),
    );
    let outcome = world
        .engine
        .plaid()
        .handle_webhook(Some(&delivery.verification), delivery.body.as_bytes())
        .await
        .unwrap();
    assert_eq!(
        outcome,
        PlaidWebhookOutcome::UnknownItem {
            item_id: other.item_id.clone()
        }
    );
    assert_eq!(stored(&world).await, before);
}

/// A SnapTrade delivery of `event_type` naming `user` and `account`.
fn snaptrade_hook(user: UserId, event_type: &str, account: &str, id: &str) -> serde_json::Value {
    json!({
        "webhookId": id,
        "clientId": "TRIBUTARY",
        "eventTimestamp": Utc::now().to_rfc3339(),
        "userId": user.to_string(),
        "eventType": event_type,
        "accountId": account,
    })
}

pub async fn snaptrades_transaction_webhooks_sync_that_accounts_history_once<S: Store + 'static>(
    world: World<S>,
) {
    world.connect_snaptrade(ConnectionType::Trade).await;
    let first = world.engine.sync_user(world.user).await.unwrap();
    assert!(!first.has_failures(), "{:?}", first.failures());
    let snaptrade = history_of(&first, Provider::SnapTrade);
    assert!(inserted(&snaptrade.accounts) > 0, "{snaptrade:?}");
    let account = &snaptrade.accounts[0];
    let activity = stored(&world)
        .await
        .into_iter()
        .find(|t| t.transaction.account_id == account.account_id)
        .expect("an activity of the account");
    world.sandbox.snaptrade().revise_activity(
        activity.transaction.provider_transaction_id.as_str(),
        json!(-77.25),
    );
    let in_window = activity.transaction.trade_date >= today() - Days::new(30);

    for (n, event) in [
        "ACCOUNT_TRANSACTIONS_INITIAL_UPDATE",
        "ACCOUNT_TRANSACTIONS_UPDATED",
    ]
    .into_iter()
    .enumerate()
    {
        let hook = snaptrade_hook(
            world.user,
            event,
            account.provider_account_id.as_str(),
            &format!("history-{n}"),
        );
        let outcome = world.deliver(&hook).await.unwrap();
        let WebhookOutcome::HistorySynced(history) = &outcome else {
            panic!("{event}: {outcome:?}");
        };
        let synced: Vec<_> = history.iter().flat_map(|h| &h.accounts).collect();
        assert_eq!(synced.len(), 1, "only the account named: {synced:?}");
        assert_eq!(synced[0].account_id, account.account_id);
        let updated = synced[0].written.updated;
        assert_eq!(updated, usize::from(n == 0 && in_window), "{event}");

        let before = stored(&world).await;
        assert_eq!(
            world.deliver(&hook).await.unwrap(),
            WebhookOutcome::Replayed
        );
        assert_eq!(stored(&world).await, before, "a replay does nothing more");
    }
}

pub async fn a_snaptrade_delivery_naming_another_users_account_touches_nothing<
    S: Store + 'static,
>(
    world: World<S>,
    other: UserId,
) {
    world.connect_snaptrade(ConnectionType::Trade).await;
    world.engine.sync_user(world.user).await.unwrap();
    // The other user is registered at SnapTrade and has a connection of their own.
    let link = world
        .engine
        .snaptrade()
        .connect(other, ConnectionType::Trade, None)
        .await
        .unwrap();
    assert!(reqwest::get(&link.url).await.unwrap().status().is_success());
    let mine = stored(&world).await;
    let account = mine[0].transaction.account_id;
    let provider_account = world
        .store()
        .list_accounts(world.user)
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.id == account)
        .unwrap()
        .provider_account_id;
    world.sandbox.snaptrade().revise_activity(
        mine[0].transaction.provider_transaction_id.as_str(),
        json!(1),
    );

    let hook = snaptrade_hook(
        other,
        "ACCOUNT_TRANSACTIONS_UPDATED",
        provider_account.as_str(),
        "not-yours",
    );
    let outcome = world.deliver(&hook).await.unwrap();
    assert!(
        matches!(&outcome, WebhookOutcome::Ignored { reason } if reason.contains("names no stored SnapTrade account")),
        "{outcome:?}"
    );
    assert_eq!(stored(&world).await, mine, "nothing of this user's changed");
    let theirs = world
        .store()
        .list_transactions(other, &TransactionQuery::latest(u32::MAX))
        .await
        .unwrap();
    assert!(
        theirs.is_empty(),
        "nor was anything stored for the other user"
    );
}

/// A provider of one's own behind the engine's history routine (as Alpaca's activities will be): two pages,
/// the second fetched only after the first is stored; what it answers is set by the test.
struct OwnPages {
    pages: std::sync::Mutex<Vec<Vec<Transaction>>>,
    left_out: Vec<UnreadableItem>,
}

#[async_trait::async_trait]
impl TransactionPages for OwnPages {
    async fn page(
        &self,
        _from: NaiveDate,
        _to: NaiveDate,
        cursor: Option<PageCursor>,
    ) -> Result<TransactionPage, tributary_provider::ProviderError> {
        let pages = self.pages.lock().unwrap();
        let index = usize::from(cursor.is_some());
        Ok(TransactionPage {
            transactions: pages[index].clone(),
            left_out: if index == 0 {
                self.left_out.clone()
            } else {
                Vec::new()
            },
            next: (index == 0).then(PageCursor::default),
        })
    }
}

struct OwnSource {
    account: tributary_provider::capability::AccountInfo,
    pages: std::sync::Arc<std::sync::Mutex<Vec<Vec<Transaction>>>>,
}

#[async_trait::async_trait]
impl<S: Send + Sync> HistorySource<S> for OwnSource {
    fn provider(&self) -> Provider {
        Provider::Alpaca
    }

    async fn feeds(
        &self,
        _store: &S,
        _user: UserId,
    ) -> Result<Vec<Result<TransactionFeed, tributary_sync::Failure>>, tributary_sync::SyncError>
    {
        let pages = self.pages.lock().unwrap().clone();
        Ok(vec![Ok(TransactionFeed {
            accounts: vec![self.account.clone()],
            pages: Box::new(OwnPages {
                pages: std::sync::Mutex::new(pages),
                left_out: vec![UnreadableItem {
                    provider: Provider::Alpaca,
                    item: "transaction",
                    provider_id: Some("unreadable".to_owned()),
                    field: "qty".to_owned(),
                    reason: "not a number".to_owned(),
                }],
            }),
        })])
    }
}

fn own_transaction(account: &str, id: &str, amount: &str, currency: Currency) -> Transaction {
    Transaction {
        provider_account_id: ProviderAccountId::parse(account).unwrap(),
        provider_transaction_id: ProviderTransactionId::parse(id).unwrap(),
        trade_date: today() - Days::new(3),
        settlement_date: None,
        transaction_type: TransactionType::Deposit,
        subtype: None,
        symbol: None,
        security_id: None,
        quantity: None,
        price: None,
        amount: SignedAmount::parse_exact(amount).unwrap(),
        fees: None,
        currency,
        description: None,
        raw: RawRecord::empty(),
    }
}

pub async fn what_a_provider_answers_that_cannot_be_stored_is_left_out_and_the_rest_stored<
    S: Store + 'static,
>(
    store: S,
    user: UserId,
) {
    let account = store
        .upsert_accounts(
            user,
            &[NewInvestmentAccount::new(
                user,
                Provider::Alpaca,
                ProviderAccountId::parse("own-1").unwrap(),
                InstitutionName::parse("Alpaca").unwrap(),
                AccountType::parse("brokerage").unwrap(),
            )],
        )
        .await
        .unwrap()
        .remove(0);
    let info = tributary_provider::capability::AccountInfo {
        provider: Provider::Alpaca,
        provider_account_id: account.provider_account_id.clone(),
        provider_connection_id: None,
        institution: None,
        name: None,
        account_type: AccountType::parse("brokerage").unwrap(),
        account_subtype: None,
        total_value: None,
        cash: None,
        currency: None,
    };
    let usd = Currency::usd;
    let pages = std::sync::Arc::new(std::sync::Mutex::new(vec![
        vec![
            own_transaction("own-1", "t1", "10", usd()),
            own_transaction("own-1", "t2", "20", usd()),
            own_transaction("not-stored", "t9", "5", usd()),
        ],
        vec![own_transaction("own-1", "t3", "30", usd())],
    ]));
    let engine = tributary_sync::SyncEngine::new(
        std::sync::Arc::new(store),
        tributary_provider::router::ProviderRouter::new(tributary_domain::FeatureFlags::all_on()),
    )
    .with_history_source(OwnSource {
        account: info,
        pages: std::sync::Arc::clone(&pages),
    });

    let first = engine.sync_history(user, HistoryScope::All).await.unwrap();
    let left: Vec<(&str, &str)> = first[0]
        .left_out
        .iter()
        .map(|l| (l.provider_id.as_deref().unwrap(), l.field.as_str()))
        .collect();
    assert_eq!(left, [("unreadable", "qty"), ("t9", "account_id")]);
    assert_eq!(first[0].accounts[0].written.inserted, 3);
    assert_eq!(first[0].accounts[0].synced_through, Some(today()));

    // The provider now sends t2 in another currency: the store refuses that one, the rest is kept.
    pages.lock().unwrap()[0][1] =
        own_transaction("own-1", "t2", "20", Currency::parse("EUR").unwrap());
    let second = engine.sync_history(user, HistoryScope::All).await.unwrap();
    let entry = &second[0].accounts[0];
    assert_eq!(entry.outcome, Outcome::Synced);
    assert_eq!((entry.left_out, entry.removed), (1, 0), "{entry:?}");
    assert_eq!(entry.written.unchanged, 2);
    assert!(
        second[0]
            .left_out
            .iter()
            .any(|l| l.provider_id.as_deref() == Some("t2") && l.field == "currency"),
        "{:?}",
        second[0].left_out
    );
    let stored = engine
        .store()
        .list_transactions(user, &TransactionQuery::latest(10))
        .await
        .unwrap();
    let mut kept: Vec<_> = stored
        .iter()
        .map(|t| {
            (
                t.transaction.provider_transaction_id.as_str(),
                t.transaction.currency.clone(),
            )
        })
        .collect();
    kept.sort_by(|a, b| a.0.cmp(b.0));
    assert_eq!(
        kept,
        [("t1", usd()), ("t2", usd()), ("t3", usd())],
        "left out, not removed"
    );
}

/// Every activity Alpaca lists for `account` over the engine's first window, read straight from the client.
async fn at_alpaca<S: Store + 'static>(
    world: &World<S>,
    account: &ProviderAccountId,
) -> Vec<String> {
    every_id(|cursor| {
        world
            .alpaca
            .account_transactions(&(), account, first_window_start(), today(), cursor)
    })
    .await
}

pub async fn alpacas_activities_are_the_brokerage_accounts_history_and_a_resync_writes_none<
    S: Store + 'static,
>(
    world: World<S>,
) {
    let account = world.link_alpaca().await;
    let report = world.engine.sync_user(world.user).await.unwrap();
    assert!(!report.has_failures(), "{:?}", report.failures());

    let alpaca = history_of(&report, Provider::Alpaca);
    assert_eq!(alpaca.outcome, Outcome::Synced);
    assert_eq!(alpaca.accounts.len(), 1, "the onboarding's one account");
    let expected = at_alpaca(&world, &account).await;
    assert!(
        expected.len() > 400,
        "the sandbox's two years of activities: {}",
        expected.len()
    );
    assert_eq!(stored_ids(&world).await, expected);
    assert_eq!(alpaca.accounts[0].synced_through, Some(today()));
    let requests = world
        .sandbox
        .alpaca()
        .log()
        .count("GET", "/v1/accounts/activities");
    assert!(
        requests >= 2 * 5,
        "pages of 100, by the engine and by the test: {requests}"
    );

    let again = world.engine.sync_user(world.user).await.unwrap();
    let alpaca = history_of(&again, Provider::Alpaca);
    assert_eq!(alpaca.outcome, Outcome::Synced);
    assert_eq!(alpaca.accounts[0].written.written(), 0, "{alpaca:?}");
    assert_eq!(alpaca.accounts[0].removed, 0);
    assert_eq!(stored_ids(&world).await, expected);
}

macro_rules! scenarios {
    ($on:ident) => {
        $on!(a_first_sync_stores_the_whole_history_page_by_page);
        $on!(a_revision_inside_the_window_is_followed_and_history_outside_it_untouched);
        $on!(a_fetch_failing_midway_keeps_its_pages_and_the_next_sync_finishes_it);
        $on!(
            the_days_value_is_one_point_per_account_and_total_per_currency_and_a_second_sync_updates_it
        );
        $on!(plaids_transactions_webhook_syncs_the_items_history_once);
        $on!(a_plaid_delivery_for_an_item_this_user_does_not_hold_touches_nothing);
        $on!(snaptrades_transaction_webhooks_sync_that_accounts_history_once);
        $on!(alpacas_activities_are_the_brokerage_accounts_history_and_a_resync_writes_none);
    };
}

mod memory {
    use super::*;

    fn store_and_user() -> (MemoryStore, UserId) {
        let store = MemoryStore::new();
        let user = store.create_user();
        (store, user)
    }

    macro_rules! in_memory {
        ($name:ident) => {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let (store, user) = store_and_user();
                super::$name(World::start(store, user).await).await;
            }
        };
    }

    scenarios!(in_memory);

    #[tokio::test]
    async fn what_a_provider_answers_that_cannot_be_stored_is_left_out_and_the_rest_stored() {
        let (store, user) = store_and_user();
        super::what_a_provider_answers_that_cannot_be_stored_is_left_out_and_the_rest_stored(
            store, user,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_unchanged_resync_sends_no_transaction_to_the_store() {
        let (store, user) = store_and_user();
        super::an_unchanged_resync_sends_no_transaction_to_the_store(
            World::start(CountingStore::new(store), user).await,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_snaptrade_delivery_naming_another_users_account_touches_nothing() {
        let (store, user) = store_and_user();
        let other = store.create_user();
        super::a_snaptrade_delivery_naming_another_users_account_touches_nothing(
            World::start(store, user).await,
            other,
        )
        .await;
    }
}

mod postgres {
    use super::*;

    async fn backend(superuser: &PgPool) -> PgPool {
        tributary_testdb::backend_pool(superuser, &tributary_repo::MIGRATOR)
            .await
            .expect("the backend role's pool")
    }

    fn store(pool: &PgPool) -> PgStore {
        PgStore::new(pool.clone(), Keyring::new(SecretKey::generate()))
    }

    async fn user(pool: &PgPool) -> UserId {
        UserId::new(tributary_testdb::create_auth_user(pool).await.unwrap())
    }

    macro_rules! on_postgres {
        ($name:ident) => {
            #[sqlx::test(migrations = false)]
            async fn $name(superuser: PgPool) {
                let pool = backend(&superuser).await;
                super::$name(World::start(store(&pool), user(&pool).await).await).await;
            }
        };
    }

    scenarios!(on_postgres);

    #[sqlx::test(migrations = false)]
    async fn what_a_provider_answers_that_cannot_be_stored_is_left_out_and_the_rest_stored(
        superuser: PgPool,
    ) {
        let pool = backend(&superuser).await;
        let user = user(&pool).await;
        super::what_a_provider_answers_that_cannot_be_stored_is_left_out_and_the_rest_stored(
            store(&pool),
            user,
        )
        .await;
    }

    #[sqlx::test(migrations = false)]
    async fn an_unchanged_resync_sends_no_transaction_to_the_store(superuser: PgPool) {
        let pool = backend(&superuser).await;
        let world = World::start(CountingStore::new(store(&pool)), user(&pool).await).await;
        super::an_unchanged_resync_sends_no_transaction_to_the_store(world).await;
    }

    #[sqlx::test(migrations = false)]
    async fn a_snaptrade_delivery_naming_another_users_account_touches_nothing(superuser: PgPool) {
        let pool = backend(&superuser).await;
        let other = user(&pool).await;
        let world = World::start(store(&pool), user(&pool).await).await;
        super::a_snaptrade_delivery_naming_another_users_account_touches_nothing(world, other)
            .await;
    }
}
