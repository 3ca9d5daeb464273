//! Issue 18: what one pooled statement costs on the wire, sqlx's default pool against `PgStore::connect`'s, for
//! a read (`portfolio_mode`, one statement) and a write (`record_webhook`, one `INSERT`).
//!
//! Round trips are counted by `roundtrips.rs`'s relay, one call at a time on a one-connection pool driven by
//! a current-thread runtime of its own: the ping sqlx sends as a connection goes back to the pool runs in a
//! task spawned as the call ends, which cannot start before the caller has read the counter, so each call
//! gives both the round trips the caller waited for and, once the connection is idle again, all of them.
//! Latency is measured without the relay, on two ten-connection pools, alternating call by call.

use std::time::{Duration, Instant};

use anyhow::ensure;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tributary::domain::UserId;
use tributary::repo::{
    Keyring, NewWebhookDelivery, PgStore, PgStoreOptions, PortfolioRepository, SecretKey,
    WebhookKey, WebhookRepository,
};
use uuid::Uuid;

use crate::report::{Figure, Timed, quantile};
use crate::roundtrips::RoundTripCounter;

/// The two pools compared.
#[derive(Clone, Copy)]
enum Pool {
    /// `PgPoolOptions::new()`: a ping before each acquire, a ping after each release.
    SqlxDefaults,
    /// `PgStoreOptions::default()`, what `PgStore::connect` builds.
    Tuned,
}

impl Pool {
    async fn store(self, options: PgConnectOptions, size: u32) -> anyhow::Result<PgStore> {
        let keyring = Keyring::new(SecretKey::generate());
        Ok(match self {
            Pool::SqlxDefaults => PgStore::new(
                PgPoolOptions::new()
                    .max_connections(size)
                    .connect_with(options)
                    .await?,
                keyring,
            ),
            Pool::Tuned => {
                PgStoreOptions::default()
                    .max_connections(size)
                    .connect_with(options, keyring)
                    .await?
            }
        })
    }
}

/// Round trips per call, averaged.
#[derive(Clone, Copy, Default)]
struct Trips {
    /// Between the call's start and its answer.
    waited: f64,
    /// Until the connection is idle in the pool again.
    wire: f64,
}

/// The figures: round trips per read and per write for each pool, then p50 latency of each.
pub async fn run(
    options: &PgConnectOptions,
    users: &[UserId],
    samples: usize,
) -> anyhow::Result<Vec<Figure>> {
    let counter = RoundTripCounter::start(options).await?;
    let relayed = counter.through(options.clone());
    let calls = users.len().clamp(10, 100);
    let (before, after) = {
        let users = users.to_vec();
        tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let before = count(Pool::SqlxDefaults, &counter, &relayed, &users, calls).await?;
                let after = count(Pool::Tuned, &counter, &relayed, &users, calls).await?;
                anyhow::Ok((before, after))
            })
        })
        .await??
    };
    let (latency_before, latency_after) = latencies(options, users, samples).await?;
    let mut figures = Vec::new();
    for (what, before, after) in [
        ("portfolio_mode", before.0, after.0),
        ("record_webhook", before.1, after.1),
    ] {
        figures.push(
            Figure::limit(
                format!(
                    "pool: round trips per {what} call while the caller waits, PgStore::connect vs sqlx's \
                     default pool ({calls} calls)"
                ),
                format!("{:.2} ({:.2} on the wire)", after.waited, after.wire),
                format!("sqlx defaults {:.2} ({:.2} on the wire)", before.waited, before.wire),
                after.waited,
                1.0,
                "round trips",
            )
            // sqlx 0.9 pings every connection it takes back (sqlx-core pool/connection.rs, no setting turns it
            // off), after the caller has its answer: one more round trip on the wire, which is the figure's
            // honest floor there.
            .requiring(if after.wire <= 2.0 {
                Ok(())
            } else {
                Err(format!(
                    "{:.2} round trips on the wire, more than the statement and sqlx's release ping",
                    after.wire
                ))
            }),
        );
    }
    for (what, before, after) in [
        ("portfolio_mode", latency_before.0, latency_after.0),
        ("record_webhook", latency_before.1, latency_after.1),
    ] {
        figures.push(Figure::report(
            format!("pool: {what} p50, PgStore::connect vs sqlx's default pool"),
            Timed::new("p50", after),
            Timed::new("sqlx defaults p50", before),
        ));
    }
    Ok(figures)
}

/// Round trips of `calls` reads and as many writes, one at a time, on a one-connection `pool` through the relay.
async fn count(
    pool: Pool,
    counter: &RoundTripCounter,
    relayed: &PgConnectOptions,
    users: &[UserId],
    calls: usize,
) -> anyhow::Result<(Trips, Trips)> {
    let store = pool.store(relayed.clone(), 1).await?;
    // Warm-up: the statements prepared, the connection open.
    for user in users.iter().take(3) {
        store.portfolio_mode(*user).await?;
        write(&store, *user).await?;
        idle_again(store.pool()).await?;
    }
    let (mut read, mut written) = (Trips::default(), Trips::default());
    for user in users.iter().cycle().take(calls) {
        for (trips, is_read) in [(&mut read, true), (&mut written, false)] {
            let start = counter.count();
            if is_read {
                store.portfolio_mode(*user).await?;
            } else {
                write(&store, *user).await?;
            }
            let answered = counter.count();
            idle_again(store.pool()).await?;
            trips.waited += (answered - start) as f64;
            trips.wire += (counter.count() - start) as f64;
        }
    }
    store.pool().close().await;
    let per_call = |trips: Trips| Trips {
        waited: trips.waited / calls as f64,
        wire: trips.wire / calls as f64,
    };
    Ok((per_call(read), per_call(written)))
}

/// Waits until every connection of `pool` is back in it (sqlx's release ping answered).
async fn idle_again(pool: &PgPool) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(5);
    while pool.num_idle() < pool.size() as usize {
        ensure!(
            Instant::now() < deadline,
            "a connection did not come back to the pool within 5 s"
        );
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    Ok(())
}

/// One webhook delivery for `user` under a fresh id: a single `INSERT`, committed.
async fn write(store: &PgStore, user: UserId) -> anyhow::Result<()> {
    let recorded = store
        .record_webhook(&NewWebhookDelivery {
            key: WebhookKey::plaid(format!("bench-pool-{}", Uuid::new_v4())),
            event_type: "HOLDINGS: DEFAULT_UPDATE".to_owned(),
            user: Some(user),
            payload: serde_json::json!({ "webhook_code": "DEFAULT_UPDATE" }),
            hint_only: true,
        })
        .await?;
    ensure!(recorded, "a fresh delivery is recorded");
    Ok(())
}

/// p50 of reads (`samples`) and writes (a fifth as many, each a durable commit) on ten-connection pools of
/// both kinds, without the relay, alternating call by call; the first tenth warms up.
async fn latencies(
    options: &PgConnectOptions,
    users: &[UserId],
    samples: usize,
) -> anyhow::Result<((Duration, Duration), (Duration, Duration))> {
    let default = Pool::SqlxDefaults.store(options.clone(), 10).await?;
    let tuned = Pool::Tuned.store(options.clone(), 10).await?;
    let writes = (samples / 5).max(50);
    let mut times: [Vec<Duration>; 4] = Default::default();
    for (round, user) in users
        .iter()
        .cycle()
        .take(samples + samples / 10)
        .enumerate()
    {
        let warm = round >= samples / 10;
        for (slot, store) in [(0, &default), (1, &tuned)] {
            let started = Instant::now();
            store.portfolio_mode(*user).await?;
            if warm {
                times[slot].push(started.elapsed());
            }
        }
        if round < writes + writes / 10 {
            for (slot, store) in [(2, &default), (3, &tuned)] {
                let started = Instant::now();
                write(store, *user).await?;
                if round >= writes / 10 {
                    times[slot].push(started.elapsed());
                }
            }
        }
    }
    default.pool().close().await;
    tuned.pool().close().await;
    let [read_default, read_tuned, write_default, write_tuned] = &mut times;
    let p50 = |samples: &mut Vec<Duration>| quantile(samples, 0.5);
    Ok((
        (p50(read_default), p50(write_default)),
        (p50(read_tuned), p50(write_tuned)),
    ))
}
