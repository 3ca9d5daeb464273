//! Reads: `portfolio_mode` against a primary-key point select, and user-scoped (RLS) reads against the same
//! reads as the service role. The population is written with set-based SQL, users the way the tests make
//! them (a row in `auth.users` with id and email).

use std::time::{Duration, Instant};

use anyhow::ensure;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tributary::domain::{
    AccountType, InstitutionName, NewInvestmentAccount, Provider, ProviderAccountId, UserId,
};
use tributary::repo::{
    AccountRepository, HoldingRepository, Keyring, PgStore, PortfolioRepository,
};
use uuid::Uuid;

use crate::report::{Figure, Timed, quantile};
use crate::roundtrips::RoundTripCounter;

/// `users` rows in `auth.users`, as `tributary_testdb::create_auth_user` makes one, in one statement.
pub async fn create_users(pool: &PgPool, users: usize) -> anyhow::Result<Vec<UserId>> {
    let ids: Vec<Uuid> = (0..users).map(|_| Uuid::new_v4()).collect();
    sqlx::query(
        "insert into auth.users (id, email) select id, id::text || '@bench.invalid' from unnest($1::uuid[]) id",
    )
    .bind(&ids)
    .execute(pool)
    .await?;
    Ok(ids.into_iter().map(UserId::new).collect())
}

/// Three accounts per user (Plaid, SnapTrade, Alpaca; about one in ten inactive) and an onboarding row for
/// every other user, half of those with an Alpaca brokerage account.
pub async fn create_accounts(pool: &PgPool, users: &[UserId]) -> anyhow::Result<()> {
    let ids: Vec<Uuid> = users.iter().map(|u| u.into_uuid()).collect();
    sqlx::query(
        "insert into public.user_investment_accounts
           (user_id, provider, provider_account_id, institution_name, account_type, is_active, account_mode,
            connection_type, connection_status)
         select u.id, p.provider, p.provider || '-' || u.n, 'Bench Institution', 'investment',
                (u.n + p.k) % 10 <> 0, p.provider, 'read', 'active'
         from unnest($1::uuid[]) with ordinality u(id, n)
         cross join (values (0, 'plaid'), (1, 'snaptrade'), (2, 'alpaca')) p(k, provider)",
    )
    .bind(&ids)
    .execute(pool)
    .await?;
    sqlx::query(
        "insert into public.user_onboarding (user_id, status, alpaca_account_id)
         select u.id, 'approved', case when u.n % 4 = 0 then 'alpaca-' || u.n end
         from unnest($1::uuid[]) with ordinality u(id, n) where u.n % 2 = 0",
    )
    .bind(&ids)
    .execute(pool)
    .await?;
    sqlx::query("vacuum analyze public.user_investment_accounts")
        .execute(pool)
        .await?;
    sqlx::query("vacuum analyze public.user_onboarding")
        .execute(pool)
        .await?;
    // Written by the triggers as the two statements above ran (migration 0025).
    sqlx::query("vacuum analyze public.user_portfolio_summary")
        .execute(pool)
        .await?;
    Ok(())
}

/// `portfolio_mode` for `samples` random users against a point select of random accounts by primary key,
/// alternating call by call on the same pool so background noise hits both alike; then round trips per call.
pub async fn portfolio_mode(
    options: &PgConnectOptions,
    store: &PgStore,
    users: &[UserId],
    samples: usize,
) -> anyhow::Result<Vec<Figure>> {
    let pool = store.pool();
    let account_ids: Vec<Uuid> =
        sqlx::query_scalar("select id from public.user_investment_accounts")
            .fetch_all(pool)
            .await?;
    let mut mode_times = Vec::with_capacity(samples);
    let mut point_times = Vec::with_capacity(samples);
    for round in 0..samples + samples / 10 {
        let user = pick(users);
        let account = pick(&account_ids);
        let started = Instant::now();
        store.portfolio_mode(user).await?;
        let mode = started.elapsed();
        let started = Instant::now();
        point_select(pool, account).await?;
        let point = started.elapsed();
        // The first tenth warms caches and prepared statements.
        if round >= samples / 10 {
            mode_times.push(mode);
            point_times.push(point);
        }
    }
    let (mode_p50, point_p50) = (
        quantile(&mut mode_times, 0.5),
        quantile(&mut point_times, 0.5),
    );
    let (mode_p99, point_p99) = (
        quantile(&mut mode_times, 0.99),
        quantile(&mut point_times, 0.99),
    );
    let (trips, point_trips) = round_trips_per_call(options, users, account_ids[0]).await?;
    let population = format!("{} users", users.len());
    Ok(vec![
        Figure::at_most(
            format!("portfolio_mode p50, {samples} random users of {population}"),
            Timed::new("p50", mode_p50),
            Timed::new("point select p50", point_p50),
            1.1,
        )
        // sqlx pings each connection as it goes back to the pool (one more round trip after the answer, for
        // every call alike); what the repository adds is what is counted beyond the point select.
        .requiring(if trips - point_trips < 0.5 {
            Ok(())
        } else {
            Err(format!(
                "{trips:.2} round trips per call, the point select {point_trips:.2}"
            ))
        }),
        Figure::report(
            format!(
                "portfolio_mode p99 (round trips per call: {trips:.2}, point select {point_trips:.2})"
            ),
            Timed::new("p99", mode_p99),
            Timed::new("point select p99", point_p99),
        ),
    ])
}

async fn point_select(pool: &PgPool, account: Uuid) -> anyhow::Result<()> {
    let found: Option<Uuid> =
        sqlx::query_scalar("select id from public.user_investment_accounts where id = $1")
            .bind(account)
            .fetch_optional(pool)
            .await?;
    ensure!(found.is_some(), "the point select finds its account");
    Ok(())
}

/// Round trips of one `portfolio_mode` call and of one point select, counted on the wire over 100 calls
/// each after a warm-up.
async fn round_trips_per_call(
    options: &PgConnectOptions,
    users: &[UserId],
    account: Uuid,
) -> anyhow::Result<(f64, f64)> {
    let counter = RoundTripCounter::start(options).await?;
    let pool = bench_pool(counter.through(options.clone()), 1).await?;
    let store = PgStore::new(
        pool.clone(),
        Keyring::new(tributary::repo::secret::SecretKey::generate()),
    );
    for user in users.iter().take(5) {
        store.portfolio_mode(*user).await?;
        point_select(&pool, account).await?;
    }
    let calls = users.len().min(100);
    let before = counter.count();
    for user in users.iter().take(calls) {
        store.portfolio_mode(*user).await?;
    }
    let mode = (counter.count() - before) as f64 / calls as f64;
    let before = counter.count();
    for _ in 0..calls {
        point_select(&pool, account).await?;
    }
    let point = (counter.count() - before) as f64 / calls as f64;
    Ok((mode, point))
}

/// Migration 0025's summary triggers on the accounts, turned off for the write-cost figure's baseline and on again.
const SUMMARY_TRIGGERS_OFF: &str = "alter table public.user_investment_accounts
  disable trigger summarise_accounts_inserted, disable trigger summarise_accounts_updated,
  disable trigger summarise_accounts_deleted";
const SUMMARY_TRIGGERS_ON: &str = "alter table public.user_investment_accounts
  enable trigger summarise_accounts_inserted, enable trigger summarise_accounts_updated,
  enable trigger summarise_accounts_deleted";

/// What the summary's triggers add to an accounts sync: `upsert_accounts` of 50 accounts per user (one call per
/// user, as `sync_user` stores a SnapTrade user's 10 connections × 5 accounts), first write then an unchanged
/// re-sync, for `users` fresh users with the triggers on and as many with them off, alternating in blocks of
/// ten users so the machine's drift hits both alike.
pub async fn accounts_write_cost(store: &PgStore, users: usize) -> anyhow::Result<Vec<Figure>> {
    let pool = store.pool();
    let fresh = create_users(pool, 2 * users).await?;
    let (mut on, mut off) = ([Duration::ZERO; 2], [Duration::ZERO; 2]);
    for (block, group) in fresh.chunks(10).enumerate() {
        let triggers_on = block % 2 == 0;
        set_summary_triggers(pool, triggers_on).await?;
        let took = if triggers_on { &mut on } else { &mut off };
        for user in group {
            let accounts = fifty_accounts(*user)?;
            for pass in took.iter_mut() {
                let started = Instant::now();
                store.upsert_accounts(*user, &accounts).await?;
                *pass += started.elapsed();
            }
        }
    }
    set_summary_triggers(pool, true).await?;
    let per_user = |total: Duration| total / u32::try_from(users).unwrap_or(u32::MAX);
    Ok(vec![
        Figure::report(
            format!(
                "upsert_accounts, 50 new accounts per user, {users} users: summary triggers on vs off"
            ),
            Timed::new("on, per user", per_user(on[0])),
            Timed::new("off, per user", per_user(off[0])),
        ),
        Figure::report(
            format!(
                "upsert_accounts, the same 50 accounts unchanged, {users} users: triggers on vs off"
            ),
            Timed::new("on, per user", per_user(on[1])),
            Timed::new("off, per user", per_user(off[1])),
        ),
    ])
}

async fn set_summary_triggers(pool: &PgPool, enabled: bool) -> anyhow::Result<()> {
    let statement = if enabled {
        sqlx::query(SUMMARY_TRIGGERS_ON)
    } else {
        sqlx::query(SUMMARY_TRIGGERS_OFF)
    };
    statement.execute(pool).await?;
    Ok(())
}

/// 50 SnapTrade and Plaid accounts of `user`, alternately.
fn fifty_accounts(user: UserId) -> anyhow::Result<Vec<NewInvestmentAccount>> {
    (0..50)
        .map(|n| {
            let provider = if n % 2 == 0 {
                Provider::SnapTrade
            } else {
                Provider::Plaid
            };
            Ok(NewInvestmentAccount::new(
                user,
                provider,
                ProviderAccountId::parse(&format!("acct-{n}"))?,
                InstitutionName::parse("Bench Institution")?,
                AccountType::parse("investment")?,
            ))
        })
        .collect()
}

/// A user's accounts and holdings read through `PgStore::for_user` (role `authenticated`, RLS) against the
/// same reads in service mode, alternating user by user.
pub async fn rls_reads(
    store: &PgStore,
    users: &[UserId],
    samples: usize,
) -> anyhow::Result<Figure> {
    let (mut scoped, mut service) = (Duration::ZERO, Duration::ZERO);
    for round in 0..samples + samples / 10 {
        let user = pick(users);
        let started = Instant::now();
        let theirs = read_portfolio(&store.for_user(user), user).await?;
        let scoped_took = started.elapsed();
        let started = Instant::now();
        let all = read_portfolio(store, user).await?;
        let service_took = started.elapsed();
        ensure!(
            theirs == all,
            "RLS shows the user the same rows as the service role"
        );
        if round >= samples / 10 {
            scoped += scoped_took;
            service += service_took;
        }
    }
    let policies = policies_are_initplans_on_indexed_user_id(store.pool()).await?;
    Ok(Figure::at_most(
        format!("RLS-scoped reads of accounts + holdings vs service role ({samples} users)"),
        Timed::new("user mode", scoped),
        Timed::new("service", service),
        1.3,
    )
    .requiring(policies))
}

/// How many accounts and holdings the user sees.
async fn read_portfolio(store: &PgStore, user: UserId) -> anyhow::Result<(usize, usize)> {
    let accounts = store.list_accounts(user).await?.len();
    let holdings = store.list_holdings(user).await?.len();
    Ok((accounts, holdings))
}

/// Every owner policy on the two tables compares `user_id` with `(select auth.uid())` (evaluated once per
/// statement, not per row), and `user_id` leads an index on each table.
async fn policies_are_initplans_on_indexed_user_id(
    pool: &PgPool,
) -> anyhow::Result<Result<(), String>> {
    let problems: Vec<String> = sqlx::query_scalar(
        "select format('%s.%s: %s', tablename, policyname, coalesce(qual, with_check))
         from pg_catalog.pg_policies
         where schemaname = 'public'
           and tablename in ('user_investment_accounts', 'user_aggregated_holdings')
           and coalesce(qual, with_check) not like '%( SELECT auth.uid() AS uid)%'
         union all
         select format('%s: no index leads with user_id', t)
         from unnest(array['user_investment_accounts', 'user_aggregated_holdings']) t
         where not exists (
           select from pg_catalog.pg_index i
           join pg_catalog.pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
           where i.indrelid = ('public.' || t)::regclass and a.attname = 'user_id')",
    )
    .fetch_all(pool)
    .await?;
    Ok(if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    })
}

/// A pool for the benchmark: no ping before each acquire (sqlx's default costs one round trip per call).
pub async fn bench_pool(options: PgConnectOptions, size: u32) -> anyhow::Result<PgPool> {
    Ok(PgPoolOptions::new()
        .max_connections(size)
        .test_before_acquire(false)
        .connect_with(options)
        .await?)
}

/// A random element (the root package has no `rand`; a v4 UUID's 122 random bits do).
fn pick<T: Copy>(items: &[T]) -> T {
    let index = Uuid::new_v4().as_u128() % items.len() as u128;
    items[usize::try_from(index).expect("an index of a slice fits usize")]
}
