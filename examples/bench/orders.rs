//! Placing an order: the engine's `place_order` at `tributary-sandbox`'s SnapTrade with a fixed latency on every
//! call, into PostgreSQL, against the same provider calls made directly with the same client. What the engine
//! adds is its own work: the user's lock, the account and the client order id looked up, the login read (and its
//! secret opened) per provider call, the order recorded twice before it leaves (not handed over, then handed
//! over) and rewritten with the provider's answer, the reconciliation of the recorded row with what the provider
//! placed. Then `refresh_order`: the order's status read back from the provider and recorded, against its
//! provider calls alone.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use secrecy::SecretString;
use sqlx::postgres::PgConnectOptions;
use tributary::domain::{
    FeatureFlags, OrderAction, OrderStatus, Price, Provider, Symbol, Units, UserId,
};
use tributary::provider::capability::{
    AccountRef, Aggregation, OrderRequest, OrderScope, OrderSize, Trading,
};
use tributary::provider::router::ProviderRouter;
use tributary::provider::snaptrade::{SnapTradeClient, SnapTradeConfig, UserCredentials};
use tributary::repo::secret::SecretKey;
use tributary::repo::{AccountRepository, Keyring, PgStore};
use tributary::sync::SyncEngine;
use tributary_sandbox::{Sandbox, SeedConnection};

use crate::portfolio::{bench_pool, create_users};
use crate::report::{Figure, Target, Timed, human, quantile};
use crate::roundtrips::RoundTripCounter;

/// The latency added to every provider call (the `sync_user` figure's).
const LATENCY: Duration = Duration::from_millis(50);

/// The target for the engine's overhead on a placement, p50: its statements (see the report's text) are about
/// a dozen round trips and three committed writes, each a WAL flush.
const PLACE_OVERHEAD_MS: f64 = 20.0;

/// The target for the overhead of a refresh: about half a dozen round trips and one committed write.
const REFRESH_OVERHEAD_MS: f64 = 10.0;

/// A SnapTrade user with one trade connection of one account, registered at the sandbox and in the store (the
/// secret sealed by the store's keyring); the credentials to call the sandbox with directly.
pub async fn registered_user(
    store: &PgStore,
    sandbox: &Sandbox,
    user: UserId,
    seed: SeedConnection,
) -> anyhow::Result<UserCredentials> {
    let registered = sandbox.snaptrade().seed_user(&user.to_string());
    sandbox
        .snaptrade()
        .seed_connection(&registered.user_id, seed);
    crate::sync::store_registration(store, user, &registered).await
}

/// The sandbox's SnapTrade client, with no request budget (the figures measure the engine, not the provider's
/// limit; the budget has its own figure).
pub fn snaptrade_client(sandbox: &Sandbox) -> anyhow::Result<Arc<SnapTradeClient>> {
    let config = SnapTradeConfig::new(
        sandbox.snaptrade().client_id(),
        SecretString::from(sandbox.snaptrade().consumer_key()),
    )?
    .with_base_url(sandbox.snaptrade_base_url().parse()?)
    .with_rate_limits(tributary::provider::RateLimits::none());
    Ok(Arc::new(SnapTradeClient::new(config)?))
}

/// An engine trading through SnapTrade on `store`.
pub fn snaptrade_engine(store: &PgStore, client: &Arc<SnapTradeClient>) -> SyncEngine<PgStore> {
    SyncEngine::new(
        Arc::new(store.clone()),
        ProviderRouter::new(FeatureFlags::all_on()),
    )
    .with_snaptrade(Arc::clone(client))
}

/// A keyring two stores can share: the same key bytes, so a store on another pool opens what this one sealed.
pub fn shared_key() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes
}

/// A user registered at the sandbox's SnapTrade with one trade connection of one account, in a store keyed with
/// [`shared_key`] (so a store on another pool opens the user's secret), synced once.
pub struct SyncedUser {
    pub key: [u8; 32],
    pub store: PgStore,
    pub user: UserId,
    pub login: UserCredentials,
    pub client: Arc<SnapTradeClient>,
    pub engine: SyncEngine<PgStore>,
}

/// A new [`SyncedUser`] on `store`'s pool, at `sandbox`.
pub async fn synced_user(store: &PgStore, sandbox: &Sandbox) -> anyhow::Result<SyncedUser> {
    let key = shared_key();
    let store = PgStore::new(
        store.pool().clone(),
        Keyring::new(SecretKey::from_bytes(key)),
    );
    let user = create_users(store.pool(), 1).await?[0];
    let login = registered_user(&store, sandbox, user, SeedConnection::new(1, 3)).await?;
    let client = snaptrade_client(sandbox)?;
    let engine = snaptrade_engine(&store, &client);
    let synced = engine.sync_user(user).await?;
    ensure!(
        synced.failures().is_empty(),
        "the first sync failed: {:?}",
        synced.failures()
    );
    Ok(SyncedUser {
        key,
        store,
        user,
        login,
        client,
        engine,
    })
}

pub async fn run(
    options: &PgConnectOptions,
    store: &PgStore,
    orders: usize,
) -> anyhow::Result<Vec<Figure>> {
    let sandbox = Sandbox::try_start().await?;
    let SyncedUser {
        key,
        store,
        user,
        login,
        client,
        engine,
    } = synced_user(store, &sandbox).await?;
    let account = store
        .list_accounts(user)
        .await?
        .into_iter()
        .find(|a| a.provider == Provider::SnapTrade)
        .context("the sync stored no SnapTrade account")?;
    let reference = AccountRef {
        user_id: user,
        account_id: account.id,
        provider_account_id: account.provider_account_id.clone(),
    };
    let order = OrderRequest::limit(
        Symbol::parse("AAPL")?,
        OrderAction::Buy,
        OrderSize::Units(Units::parse("1")?),
        Price::parse("1.00")?,
    )?;
    sandbox.snaptrade().knobs().set_latency(LATENCY);
    let log = sandbox.snaptrade().log();
    let direct = Direct {
        client: &client,
        login: &login,
        reference: &reference,
        order: &order,
    };

    // One of each first, untimed: connections opened, statements prepared, the order's symbol known.
    let warm = engine.place_order(user, account.id, order.clone()).await?;
    engine.refresh_order(user, warm.order.id).await?;
    direct.place().await?;
    direct.refresh().await?;

    let (mut place, mut refresh) = (Pairs::default(), Pairs::default());
    for n in 0..orders {
        // Alternating which goes first, so neither always meets a connection the other just warmed.
        let engine_first = n.is_multiple_of(2);
        for turn in 0..2 {
            if (turn == 0) == engine_first {
                log.clear();
                let started = Instant::now();
                let placed = engine.place_order(user, account.id, order.clone()).await?;
                let placing = started.elapsed();
                let calls = log.all().len();
                ensure!(
                    placed.impact.is_some() && placed.order.status != OrderStatus::Pending,
                    "the order was not checked, sent and recorded with the provider's answer: {:?}",
                    placed.order.status
                );
                log.clear();
                let started = Instant::now();
                let refreshed = engine.refresh_order(user, placed.order.id).await?;
                let refreshing = started.elapsed();
                ensure!(
                    refreshed.id == placed.order.id,
                    "refresh_order read another order"
                );
                place.engine(placing, calls);
                refresh.engine(refreshing, log.all().len());
            } else {
                log.clear();
                let placing = direct.place().await?;
                let calls = log.all().len();
                log.clear();
                let refreshing = direct.refresh().await?;
                place.direct(placing, calls);
                refresh.direct(refreshing, log.all().len());
            }
        }
    }
    sandbox.snaptrade().knobs().set_latency(Duration::ZERO);
    let trips = round_trips(options, key, &client, user, &account.id, &order).await?;

    let what = format!(
        "SnapTrade, {} ms per provider call, {orders} orders",
        LATENCY.as_millis()
    );
    Ok(vec![
        place.figure(
            format!("place_order (impact, record, send, reconcile) engine overhead p50, {what}"),
            &format!("{:.1} round trips", trips.0),
            PLACE_OVERHEAD_MS,
        )?,
        refresh.figure(
            format!("refresh_order (status read back and recorded) engine overhead p50, {what}"),
            &format!("{:.1} round trips", trips.1),
            REFRESH_OVERHEAD_MS,
        )?,
    ])
}

/// The provider calls the engine makes, made directly with the same client and login.
struct Direct<'a> {
    client: &'a SnapTradeClient,
    login: &'a UserCredentials,
    reference: &'a AccountRef,
    order: &'a OrderRequest,
}

impl Direct<'_> {
    /// What `place_order` asks SnapTrade: the account's listing and its connection (the gate), the impact, the
    /// placement.
    async fn place(&self) -> anyhow::Result<Duration> {
        let started = Instant::now();
        self.gate().await?;
        Trading::order_impact(self.client, self.login, self.reference, self.order).await?;
        Trading::place_order(self.client, self.login, self.reference, self.order).await?;
        Ok(started.elapsed())
    }

    /// What `refresh_order` asks: the gate, then the account's orders.
    async fn refresh(&self) -> anyhow::Result<Duration> {
        let started = Instant::now();
        self.gate().await?;
        Trading::list_orders(self.client, self.login, self.reference, OrderScope::All).await?;
        Ok(started.elapsed())
    }

    async fn gate(&self) -> anyhow::Result<()> {
        Aggregation::accounts(self.client, self.login).await?;
        Aggregation::connections(self.client, self.login).await?;
        Ok(())
    }
}

/// The engine's and the direct calls' times, order by order, with the requests each made.
#[derive(Default)]
struct Pairs {
    engine: Vec<Duration>,
    direct: Vec<Duration>,
    engine_calls: Vec<usize>,
    direct_calls: Vec<usize>,
}

impl Pairs {
    fn engine(&mut self, took: Duration, calls: usize) {
        self.engine.push(took);
        self.engine_calls.push(calls);
    }

    fn direct(&mut self, took: Duration, calls: usize) {
        self.direct.push(took);
        self.direct_calls.push(calls);
    }

    /// The overhead of each order (engine − direct, the pair's two runs), its p50 against `max_ms`, with the
    /// p99 and both sides' p50 in the text; the condition: the engine made exactly the direct calls' requests.
    fn figure(&self, what: String, trips: &str, max_ms: f64) -> anyhow::Result<Figure> {
        let mut overhead: Vec<Duration> = self
            .engine
            .iter()
            .zip(&self.direct)
            .map(|(engine, direct)| engine.saturating_sub(*direct))
            .collect();
        let (mut engine, mut direct) = (self.engine.clone(), self.direct.clone());
        let p50 = quantile(&mut overhead, 0.5);
        let p99 = quantile(&mut overhead, 0.99);
        let (engine_p50, direct_p50) = (quantile(&mut engine, 0.5), quantile(&mut direct, 0.5));
        let same_calls = self.engine_calls == self.direct_calls;
        let calls = self.engine_calls.first().copied().unwrap_or(0);
        Ok(Figure {
            what,
            measured: format!(
                "overhead p50 {}, p99 {} ({trips}); engine p50 {}, {:.3} × the provider's",
                human(p50),
                human(p99),
                human(engine_p50),
                engine_p50.as_secs_f64() / direct_p50.as_secs_f64().max(f64::MIN_POSITIVE)
            ),
            against: Timed::new(
                format!("the same {calls} provider calls direct, p50"),
                direct_p50,
            )
            .to_string(),
            ratio: p50.as_secs_f64() * 1e3,
            unit: "ms",
            target: Target::AtMost(max_ms),
            condition: Ok(()),
        }
        .requiring(if same_calls {
            Ok(())
        } else {
            Err(format!(
                "the engine's requests per order {:?} differ from the direct calls' {:?}",
                distinct(&self.engine_calls),
                distinct(&self.direct_calls)
            ))
        }))
    }
}

fn distinct(calls: &[usize]) -> Vec<usize> {
    let mut calls = calls.to_vec();
    calls.sort_unstable();
    calls.dedup();
    calls
}

/// Round trips to PostgreSQL per `place_order` and per `refresh_order`: a few of each through a relay that
/// counts them, on a store with the same key.
async fn round_trips(
    options: &PgConnectOptions,
    key: [u8; 32],
    client: &Arc<SnapTradeClient>,
    user: UserId,
    account: &tributary::domain::AccountId,
    order: &OrderRequest,
) -> anyhow::Result<(f64, f64)> {
    const CALLS: usize = 5;
    let counter = RoundTripCounter::start(options).await?;
    let pool = bench_pool(counter.through(options.clone()), 4).await?;
    let store = PgStore::new(pool.clone(), Keyring::new(SecretKey::from_bytes(key)));
    let engine = snaptrade_engine(&store, client);
    // The pool's connections opened and statements prepared before counting.
    let warm = engine.place_order(user, *account, order.clone()).await?;
    engine.refresh_order(user, warm.order.id).await?;
    let (mut placing, mut refreshing) = (0, 0);
    for _ in 0..CALLS {
        let before = counter.count();
        let placed = engine.place_order(user, *account, order.clone()).await?;
        let between = counter.count();
        engine.refresh_order(user, placed.order.id).await?;
        placing += between - before;
        refreshing += counter.count() - between;
    }
    pool.close().await;
    Ok((
        placing as f64 / CALLS as f64,
        refreshing as f64 / CALLS as f64,
    ))
}
