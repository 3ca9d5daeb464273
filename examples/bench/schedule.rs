//! The scheduler's figures: users synced per minute when SnapTrade's budget is the limit (the sandbox enforcing
//! it, the client keeping to it), with the 429s counted (there must be none); and what asking "who is due" costs
//! on every user of the run.
//!
//! The budget is SnapTrade's documented 250 requests a minute with time scaled down tenfold (250 per 6 s), so the
//! run takes seconds; users per minute at the real budget is the measured rate divided by ten, and is printed so.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::ensure;
use secrecy::SecretString;
use tributary::chrono::{TimeDelta, Utc};
use tributary::domain::{
    FeatureFlags, NewSnapTradeUser, Provider, SnapTradeUserId, SnapTradeUserSecret, UserId,
};
use tributary::provider::router::ProviderRouter;
use tributary::provider::snaptrade::{SnapTradeClient, SnapTradeConfig};
use tributary::provider::{RateBudget, RateLimits};
use tributary::repo::{PgStore, SnapTradeUserRepository, SyncScheduleRepository};
use tributary::sqlx::PgPool;
use tributary::sync::SyncEngine;
use tributary_sandbox::{Sandbox, SeedConnection};

use crate::report::{Figure, Timed};

/// SnapTrade's budget, and how much faster than real time the run goes.
const REQUESTS: u32 = 250;
const TIME_SCALE: u32 = 10;

pub async fn run(store: &PgStore, users: &[UserId]) -> anyhow::Result<Vec<Figure>> {
    let sandbox = Sandbox::try_start().await?;
    let per = Duration::from_secs(60) / TIME_SCALE;
    let budget =
        RateBudget::new(NonZeroU32::new(REQUESTS).expect("not zero"), per).expect("a window");
    for &user in users {
        register(store, &sandbox, user).await?;
    }
    let config = SnapTradeConfig::new(
        sandbox.snaptrade().client_id(),
        SecretString::from(sandbox.snaptrade().consumer_key()),
    )?
    .with_base_url(sandbox.snaptrade_base_url().parse()?)
    .with_rate_limits(RateLimits::none().with_client_budget(budget));
    let engine = SyncEngine::new(
        Arc::new(store.clone()),
        ProviderRouter::new(
            FeatureFlags::builder()
                .aggregation_mode(true)
                .enable(Provider::SnapTrade)
                .build(),
        ),
    )
    .with_snaptrade(Arc::new(SnapTradeClient::new(config)?));
    let knobs = sandbox.snaptrade().knobs();
    knobs.enforce_budget(REQUESTS, per);
    sandbox.snaptrade().log().clear();
    let started = Instant::now();
    // Due: not synced since the run began. Each round takes up to 100 of them.
    let began = Utc::now();
    let mut synced = 0;
    loop {
        let round = engine.sync_due(began, 100, 16).await?;
        ensure!(round.failed.is_empty(), "syncs failed: {:?}", round.failed);
        for (user, report) in &round.synced {
            ensure!(!report.has_failures(), "{user}: {:?}", report.failures());
        }
        if round.is_empty() {
            break;
        }
        synced += round.synced.len();
    }
    let took = started.elapsed();
    let calls = sandbox.snaptrade().log().all().len();
    let refusals = knobs.budget_refusals();
    ensure!(
        synced == users.len(),
        "synced {synced} of {} users",
        users.len()
    );
    let per_minute_scaled = synced as f64 / took.as_secs_f64() * 60.0;
    let per_minute = per_minute_scaled / f64::from(TIME_SCALE);
    let calls_per_user = calls as f64 / synced as f64;
    Ok(vec![Figure::limit(
        format!(
            "sync_due, {synced} SnapTrade users ({calls_per_user:.1} calls each) under {REQUESTS} requests \
                 per {} ms (the documented 250/min, time ÷{TIME_SCALE}): 429s drawn",
            per.as_millis()
        ),
        format!("{refusals} × 429 in {calls} calls"),
        format!(
            "{per_minute_scaled:.0} users/min scaled = {per_minute:.1} users/min at 250 requests/min \
                 (budget bound: {:.1})",
            f64::from(REQUESTS) / calls_per_user
        ),
        f64::from(refusals),
        0.0,
        "429s",
    )])
}

/// Who is due among every user of the run, each with a schedule row (a tenth never synced, the rest over ten
/// days, one in fifty broken): the median of `samples` asks for 500.
pub async fn due_query(
    pool: &PgPool,
    store: &PgStore,
    users: &[UserId],
    samples: usize,
) -> anyhow::Result<Figure> {
    let ids: Vec<uuid::Uuid> = users.iter().map(|u| u.into_uuid()).collect();
    sqlx::query(
        "insert into public.user_sync_schedule (user_id, syncable, last_synced_at)
         select id, (hashtext(id::text) % 50) <> 0,
                case when hashtext(id::text) % 10 = 0 then null
                     else now() - (abs(hashtext(id::text)) % 864000) * interval '1 second' end
         from unnest($1::uuid[]) id
         on conflict (user_id) do nothing",
    )
    .bind(&ids)
    .execute(pool)
    .await?;
    sqlx::query("analyze public.user_sync_schedule")
        .execute(pool)
        .await?;
    // One cutoff for every ask, so each must return the same users: all the overdue ones, up to 500 (a small
    // `--scale` has fewer than 500 overdue users).
    let cutoff = Utc::now() - TimeDelta::hours(1);
    let overdue: i64 = sqlx::query_scalar(
        "select count(*) from public.user_sync_schedule
         where syncable and (last_synced_at is null or last_synced_at < $1)",
    )
    .bind(cutoff)
    .fetch_one(pool)
    .await?;
    let expected = usize::try_from(overdue)?.min(500);
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        let started = Instant::now();
        let due = store.users_due_for_sync(cutoff, 500).await?;
        times.push(started.elapsed());
        ensure!(
            due.len() == expected,
            "{} due, {expected} expected",
            due.len()
        );
    }
    times.sort();
    let median = times[times.len() / 2];
    Ok(Figure::limit(
        format!(
            "users_due_for_sync(1 hour, 500) among {} users, median of {samples}",
            users.len()
        ),
        Timed::new("median", median).to_string(),
        "one index scan (idx_user_sync_schedule_due)".to_owned(),
        median.as_secs_f64() * 1000.0,
        20.0,
        "ms",
    ))
}

/// A SnapTrade user with one connection of one account holding five positions, at the sandbox and in the store.
async fn register(store: &PgStore, sandbox: &Sandbox, user: UserId) -> anyhow::Result<()> {
    let registered = sandbox.snaptrade().seed_user(&user.to_string());
    sandbox
        .snaptrade()
        .seed_connection(&registered.user_id, SeedConnection::new(1, 5));
    store
        .upsert_snaptrade_user(
            user,
            &NewSnapTradeUser {
                user_id: user,
                snaptrade_user_id: SnapTradeUserId::parse(&registered.user_id)?,
                user_secret: SnapTradeUserSecret::new(SecretString::from(
                    registered.user_secret.clone(),
                ))?,
            },
        )
        .await?;
    Ok(())
}
