//! The portfolio mode's truth table, asked of every reader. PostgreSQL decides the mode once
//! (`public.decide_portfolio_mode`, stored in `user_portfolio_summary.mode` by triggers, migration 0025); the
//! readers are `get_user_portfolio_mode` as the backend and as the user, `PgStore` in service mode and scoped to
//! the user, and `MemoryStore`, which decides it in Rust and must agree. Each is compared with the answer the
//! definition gives when recomputed from the base tables (accounts and onboarding), so a summary that drifted
//! from them fails here. `MockStore` answers whatever a test tells it to and has nothing to compare.
//!
//! Then the summary under the writes that could make it drift: accounts deleted, deactivated, moved to another
//! user or to another provider, onboarding unlinked or removed, one statement over many users, two connections
//! syncing the same user at once, and a user's rows deleted (`delete_user_rows`, what `forget_user` runs) or the
//! user deleted.

use std::sync::Arc;

use sqlx::PgPool;
use tributary_domain::{
    AccountType, InstitutionName, NewInvestmentAccount, PortfolioMode, Provider, ProviderAccountId,
    UserId,
};
use tributary_repo::{
    AccountRepository, Keyring, MemoryStore, PgStore, PortfolioRepository, PortfolioSummary,
    RemovalRepository, SecretKey,
};
use tributary_testdb::{Identity, create_auth_user};
use uuid::Uuid;

/// How one aggregation provider appears in a setup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Presence {
    Absent,
    /// An account that exists but is not active: it must not count.
    Inactive,
    Active,
}

/// The user's onboarding row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Onboarding {
    Absent,
    /// A row whose Alpaca account was unlinked: it must not count.
    WithoutAlpaca,
    WithAlpaca,
}

#[derive(Debug, Clone, Copy)]
struct Setup {
    onboarding: Onboarding,
    plaid: Presence,
    snaptrade: Presence,
    /// An active manual account: counted in `accounts_count`, never in the mode.
    manual: bool,
}

const PRESENCES: [Presence; 3] = [Presence::Absent, Presence::Inactive, Presence::Active];
const ONBOARDINGS: [Onboarding; 3] = [
    Onboarding::Absent,
    Onboarding::WithoutAlpaca,
    Onboarding::WithAlpaca,
];

/// Every combination: 3 onboardings × 3 Plaid × 3 SnapTrade, alternately with a manual account.
fn all_setups() -> Vec<Setup> {
    let mut setups = Vec::new();
    for onboarding in ONBOARDINGS {
        for plaid in PRESENCES {
            for snaptrade in PRESENCES {
                let manual = setups.len() % 2 == 1;
                setups.push(Setup {
                    onboarding,
                    plaid,
                    snaptrade,
                    manual,
                });
            }
        }
    }
    setups
}

fn account(user: UserId, provider: Provider, is_active: bool) -> NewInvestmentAccount {
    let mut account = NewInvestmentAccount::new(
        user,
        provider,
        ProviderAccountId::parse(&format!("{}-{}", provider.as_str(), Uuid::new_v4())).unwrap(),
        InstitutionName::parse("Institution").unwrap(),
        AccountType::parse("brokerage").unwrap(),
    );
    account.is_active = is_active;
    account
}

fn alpaca_id(user: UserId) -> ProviderAccountId {
    ProviderAccountId::parse(&format!("alpaca-{}", user.into_uuid())).unwrap()
}

/// Writes `setup` for `user` through the repository, as the sync engine and onboarding do.
async fn apply<S: AccountRepository + PortfolioRepository>(
    store: &S,
    user: UserId,
    setup: Setup,
) -> anyhow::Result<()> {
    let mut accounts = Vec::new();
    for (provider, presence) in [
        (Provider::Plaid, setup.plaid),
        (Provider::SnapTrade, setup.snaptrade),
    ] {
        if presence != Presence::Absent {
            accounts.push(account(user, provider, presence == Presence::Active));
        }
    }
    if setup.manual {
        accounts.push(account(user, Provider::Manual, true));
    }
    if !accounts.is_empty() {
        store.upsert_accounts(user, &accounts).await?;
    }
    match setup.onboarding {
        Onboarding::Absent => {}
        Onboarding::WithoutAlpaca => {
            store
                .set_alpaca_account(user, Some(alpaca_id(user)))
                .await?;
            store.set_alpaca_account(user, None).await?;
        }
        Onboarding::WithAlpaca => {
            store
                .set_alpaca_account(user, Some(alpaca_id(user)))
                .await?;
        }
    }
    Ok(())
}

/// What the setup must read as, from the mode's definition in the domain.
fn expected(user: UserId, setup: Setup) -> PortfolioSummary {
    let has_alpaca = setup.onboarding == Onboarding::WithAlpaca;
    let has_plaid = setup.plaid == Presence::Active;
    let has_snaptrade = setup.snaptrade == Presence::Active;
    PortfolioSummary {
        mode: PortfolioMode::from_providers(has_alpaca, has_plaid, has_snaptrade),
        has_alpaca,
        has_plaid,
        has_snaptrade,
        alpaca_account_id: has_alpaca.then(|| alpaca_id(user)),
        accounts_count: u32::from(has_plaid) + u32::from(has_snaptrade) + u32::from(setup.manual),
    }
}

const FUNCTION: &str =
    "select mode, has_alpaca, has_plaid, has_snaptrade, alpaca_account_id, accounts_count
                        from public.get_user_portfolio_mode($1)";

/// The definition recomputed from the base tables, as migration 0010's function computed it, with the decision
/// taken by the schema's one definition: what the summary row must equal at every moment.
const RECOMPUTED: &str = "
select public.decide_portfolio_mode(o.alpaca_id is not null, a.plaid, a.snaptrade), o.alpaca_id is not null,
       a.plaid, a.snaptrade, o.alpaca_id, a.active
from (
  select coalesce(bool_or(x.provider = 'plaid'), false) as plaid,
         coalesce(bool_or(x.provider = 'snaptrade'), false) as snaptrade,
         count(*)::int as active
  from public.user_investment_accounts x
  where x.user_id = $1 and x.is_active = true
) a
left join (
  select u.alpaca_account_id as alpaca_id from public.user_onboarding u
  where u.user_id = $1 and u.alpaca_account_id is not null
) o on true";

type Row = (String, bool, bool, bool, Option<String>, i32);

fn summary(row: Row) -> PortfolioSummary {
    let (mode, has_alpaca, has_plaid, has_snaptrade, alpaca_account_id, count) = row;
    PortfolioSummary {
        mode: PortfolioMode::parse(&mode).unwrap(),
        has_alpaca,
        has_plaid,
        has_snaptrade,
        alpaca_account_id: alpaca_account_id.map(|id| ProviderAccountId::parse(&id).unwrap()),
        accounts_count: u32::try_from(count).unwrap(),
    }
}

/// `get_user_portfolio_mode(user)` called as `identity`, in a transaction rolled back after.
async fn function_as(
    pool: &PgPool,
    identity: Identity,
    user: UserId,
) -> anyhow::Result<PortfolioSummary> {
    let mut tx = pool.begin().await?;
    identity.apply(&mut tx).await?;
    let row: Row = sqlx::query_as(FUNCTION)
        .bind(user.into_uuid())
        .fetch_one(&mut *tx)
        .await?;
    tx.rollback().await?;
    Ok(summary(row))
}

async fn recomputed(pool: &PgPool, user: UserId) -> anyhow::Result<PortfolioSummary> {
    let row: Row = sqlx::query_as(RECOMPUTED)
        .bind(user.into_uuid())
        .fetch_one(pool)
        .await?;
    Ok(summary(row))
}

/// Every PostgreSQL reader's answer about `user`, each named, and the recomputed definition's.
async fn pg_readers(
    pool: &PgPool,
    store: &PgStore,
    user: UserId,
) -> anyhow::Result<(PortfolioSummary, Vec<(&'static str, PortfolioSummary)>)> {
    let readers = vec![
        (
            "get_user_portfolio_mode as service_role",
            function_as(pool, Identity::ServiceRole, user).await?,
        ),
        (
            "get_user_portfolio_mode as the user",
            function_as(pool, Identity::User(user.into_uuid()), user).await?,
        ),
        ("PgStore, service mode", store.portfolio_mode(user).await?),
        (
            "PgStore, scoped to the user",
            store.for_user(user).portfolio_mode(user).await?,
        ),
    ];
    Ok((recomputed(pool, user).await?, readers))
}

/// Asserts that every PostgreSQL reader agrees with the base tables about `user`, and returns the answer.
async fn assert_readers_agree(
    pool: &PgPool,
    store: &PgStore,
    user: UserId,
    context: &str,
) -> anyhow::Result<PortfolioSummary> {
    let (truth, readers) = pg_readers(pool, store, user).await?;
    for (reader, answer) in readers {
        assert_eq!(answer, truth, "{reader}, {context}");
    }
    Ok(truth)
}

fn pg_store(pool: &PgPool) -> PgStore {
    PgStore::new(pool.clone(), Keyring::new(SecretKey::generate()))
}

async fn new_user(pool: &PgPool) -> anyhow::Result<UserId> {
    Ok(UserId::new(create_auth_user(pool).await?))
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn every_reader_gives_the_same_mode_for_every_provider_combination(
    pool: PgPool,
) -> anyhow::Result<()> {
    let store = pg_store(&pool);
    let memory = MemoryStore::new();
    let mut seen = Vec::new();
    for setup in all_setups() {
        let user = new_user(&pool).await?;
        apply(&store, user, setup).await?;
        let want = expected(user, setup);
        let truth = assert_readers_agree(&pool, &store, user, &format!("{setup:?}")).await?;
        assert_eq!(truth, want, "the base tables read as {setup:?}");

        let in_memory = memory.create_user();
        apply(&memory, in_memory, setup).await?;
        let mut from_memory = memory.portfolio_mode(in_memory).await?;
        // The memory user has its own id, so its own Alpaca account id.
        assert_eq!(
            from_memory.alpaca_account_id.take(),
            want.alpaca_account_id
                .is_some()
                .then(|| alpaca_id(in_memory)),
            "MemoryStore's Alpaca account, {setup:?}"
        );
        assert_eq!(
            from_memory,
            PortfolioSummary {
                alpaca_account_id: None,
                ..want.clone()
            },
            "MemoryStore, {setup:?}"
        );
        seen.push(want.mode);
    }
    for mode in PortfolioMode::ALL {
        assert!(seen.contains(mode), "no setup produced {mode}");
    }
    Ok(())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn a_user_with_no_rows_at_all_reads_as_none_from_every_reader(
    pool: PgPool,
) -> anyhow::Result<()> {
    let store = pg_store(&pool);
    let user = new_user(&pool).await?;
    let rows: i64 =
        sqlx::query_scalar("select count(*) from public.user_portfolio_summary where user_id = $1")
            .bind(user.into_uuid())
            .fetch_one(&pool)
            .await?;
    assert_eq!(rows, 0, "a user who wrote nothing has no summary row");
    let none = assert_readers_agree(&pool, &store, user, "no rows").await?;
    assert_eq!(none.mode, PortfolioMode::None);
    assert_eq!(none.accounts_count, 0);
    let memory = MemoryStore::new();
    let in_memory = memory.create_user();
    assert_eq!(memory.portfolio_mode(in_memory).await?, none);
    Ok(())
}

async fn execute(pool: &PgPool, sql: &str, binds: &[Uuid]) -> anyhow::Result<u64> {
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
    for bind in binds {
        query = query.bind(*bind);
    }
    Ok(query.execute(pool).await?.rows_affected())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn the_summary_follows_deletions_deactivations_and_rows_moved_between_users(
    pool: PgPool,
) -> anyhow::Result<()> {
    let store = pg_store(&pool);
    let (alice, bob) = (new_user(&pool).await?, new_user(&pool).await?);
    let full = Setup {
        onboarding: Onboarding::WithAlpaca,
        plaid: Presence::Active,
        snaptrade: Presence::Active,
        manual: true,
    };
    apply(&store, alice, full).await?;
    apply(&store, bob, full).await?;
    let (a, b) = (alice.into_uuid(), bob.into_uuid());
    let steps: [(&str, &str, &[Uuid]); 10] = [
        (
            "Alice's Plaid account deleted",
            "delete from public.user_investment_accounts where user_id = $1 and provider = 'plaid'",
            &[a],
        ),
        (
            "Alice's SnapTrade account deactivated",
            "update public.user_investment_accounts set is_active = false
             where user_id = $1 and provider = 'snaptrade'",
            &[a],
        ),
        (
            "Alice's SnapTrade account reactivated and a name changed in the same statement",
            "update public.user_investment_accounts set is_active = true, account_name = 'Renamed'
             where user_id = $1",
            &[a],
        ),
        (
            "Bob's accounts moved to Alice",
            "update public.user_investment_accounts set user_id = $1 where user_id = $2",
            &[a, b],
        ),
        (
            "Alice's manual account turned into a Plaid account",
            "update public.user_investment_accounts set provider = 'plaid', account_mode = 'plaid'
             where user_id = $1 and provider = 'manual'",
            &[a],
        ),
        (
            "Alice's Alpaca account unlinked",
            "update public.user_onboarding set alpaca_account_id = null where user_id = $1",
            &[a],
        ),
        (
            "Bob's onboarding row deleted",
            "delete from public.user_onboarding where user_id = $1",
            &[b],
        ),
        (
            "Alice's Alpaca account linked again, with an upsert",
            "insert into public.user_onboarding (user_id, status, alpaca_account_id)
             values ($1, 'approved', 'alpaca-again')
             on conflict (user_id) do update set alpaca_account_id = excluded.alpaca_account_id",
            &[a],
        ),
        (
            "every one of Alice's accounts in one statement, half of them deactivated",
            "update public.user_investment_accounts set is_active = (provider <> 'snaptrade') where user_id = $1",
            &[a],
        ),
        (
            "every account of both users deleted in one statement",
            "delete from public.user_investment_accounts where user_id in ($1, $2)",
            &[a, b],
        ),
    ];
    for (step, sql, binds) in steps {
        execute(&pool, sql, binds).await?;
        for user in [alice, bob] {
            assert_readers_agree(&pool, &store, user, step).await?;
        }
    }
    let alice_now = assert_readers_agree(&pool, &store, alice, "at the end").await?;
    assert_eq!(alice_now.mode, PortfolioMode::Brokerage);
    assert_eq!(alice_now.accounts_count, 0);
    Ok(())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn an_onboarding_row_moved_to_another_user_takes_its_alpaca_account_along(
    pool: PgPool,
) -> anyhow::Result<()> {
    let store = pg_store(&pool);
    let (alice, bob) = (new_user(&pool).await?, new_user(&pool).await?);
    store
        .set_alpaca_account(alice, Some(alpaca_id(alice)))
        .await?;
    execute(
        &pool,
        "update public.user_onboarding set user_id = $2 where user_id = $1",
        &[alice.into_uuid(), bob.into_uuid()],
    )
    .await?;
    let alice_now = assert_readers_agree(&pool, &store, alice, "after the move").await?;
    let bob_now = assert_readers_agree(&pool, &store, bob, "after the move").await?;
    assert_eq!(alice_now.mode, PortfolioMode::None);
    assert_eq!(bob_now.mode, PortfolioMode::Brokerage);
    assert_eq!(bob_now.alpaca_account_id, Some(alpaca_id(alice)));
    Ok(())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn a_batch_of_accounts_costs_one_summary_write_per_user_touched(
    pool: PgPool,
) -> anyhow::Result<()> {
    let store = pg_store(&pool);
    let (alice, bob) = (new_user(&pool).await?, new_user(&pool).await?);
    let mut tx = pool.begin().await?;
    // 50 accounts of each user, one statement; then the same rows updated, one statement.
    for sql in [
        "insert into public.user_investment_accounts
           (user_id, provider, provider_account_id, institution_name, account_type, is_active)
         select u, case when g % 2 = 0 then 'plaid' else 'snaptrade' end, 'acc-' || g, 'Bank', 'brokerage', g % 5 <> 0
         from unnest(array[$1, $2]::uuid[]) u, generate_series(1, 50) g",
        "update public.user_investment_accounts set is_active = not is_active where user_id in ($1, $2)",
    ] {
        sqlx::query(sql)
            .bind(alice.into_uuid())
            .bind(bob.into_uuid())
            .execute(&mut *tx)
            .await?;
    }
    let (inserted, updated): (i64, i64) = sqlx::query_as(
        "select n_tup_ins, n_tup_upd from pg_catalog.pg_stat_xact_user_tables
         where relid = 'public.user_portfolio_summary'::regclass",
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    assert_eq!(
        (inserted, updated),
        (2, 2),
        "one row per user for the insert, one update per user for the update"
    );
    for user in [alice, bob] {
        let now = assert_readers_agree(&pool, &store, user, "after the batch").await?;
        assert_eq!(now.accounts_count, 10, "the ten accounts inactive before");
    }
    Ok(())
}

/// Two connections writing the same user's accounts at once, each in its own transaction: the second waits on
/// the summary row the first holds, then adds its own difference to what the first committed.
#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn the_summary_stays_right_under_concurrent_syncs_of_the_same_user(
    pool: PgPool,
) -> anyhow::Result<()> {
    let store = pg_store(&pool);
    let user = new_user(&pool).await?;
    let id = user.into_uuid();
    const INSERT: &str = "insert into public.user_investment_accounts
           (user_id, provider, provider_account_id, institution_name, account_type, is_active)
         select $1, $2, $2 || '-' || $3 || '-' || g, 'Bank', 'brokerage', true from generate_series(1, 10) g";

    // The user's first accounts, from two connections: neither sees a summary row, both create it.
    let mut first = pool.begin().await?;
    let mut second = pool.begin().await?;
    sqlx::query(INSERT)
        .bind(id)
        .bind("plaid")
        .bind("a")
        .execute(&mut *first)
        .await?;
    let waiting = tokio::spawn(async move {
        sqlx::query(INSERT)
            .bind(id)
            .bind("snaptrade")
            .bind("b")
            .execute(&mut *second)
            .await?;
        second.commit().await?;
        anyhow::Ok(())
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(
        !waiting.is_finished(),
        "the second sync waits for the first"
    );
    first.commit().await?;
    waiting.await??;
    let both = assert_readers_agree(&pool, &store, user, "two first syncs").await?;
    assert_eq!(both.accounts_count, 20);
    assert_eq!(both.mode, PortfolioMode::Aggregation);

    // Then many syncs of the same user at once: inserts, deactivations and deletions in overlapping transactions.
    let pool = Arc::new(pool);
    let mut tasks = Vec::new();
    for task in 0..8_u32 {
        let pool = Arc::clone(&pool);
        tasks.push(tokio::spawn(async move {
            for round in 0..10_u32 {
                let mut tx = pool.begin().await?;
                let provider = if (task + round) % 2 == 0 {
                    "plaid"
                } else {
                    "snaptrade"
                };
                sqlx::query(INSERT)
                    .bind(id)
                    .bind(provider)
                    .bind(format!("t{task}r{round}"))
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "update public.user_investment_accounts set is_active = not is_active
                     where user_id = $1 and provider_account_id like $2",
                )
                .bind(id)
                .bind(format!("%-t{task}r{round}-%"))
                .execute(&mut *tx)
                .await?;
                if round % 3 == 0 {
                    sqlx::query(
                        "delete from public.user_investment_accounts
                         where user_id = $1 and provider_account_id like $2",
                    )
                    .bind(id)
                    .bind(format!("%-t{task}r{round}-1%"))
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let after = assert_readers_agree(&pool, &store, user, "80 overlapping syncs").await?;
    assert_eq!(
        after.accounts_count, 20,
        "every account the tasks added they also deactivated"
    );
    Ok(())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn deleting_a_users_rows_or_the_user_leaves_every_reader_answering_none(
    pool: PgPool,
) -> anyhow::Result<()> {
    let store = pg_store(&pool);
    let memory = MemoryStore::new();
    let full = Setup {
        onboarding: Onboarding::WithAlpaca,
        plaid: Presence::Active,
        snaptrade: Presence::Inactive,
        manual: true,
    };
    let (forgotten, deleted, kept) = (
        new_user(&pool).await?,
        new_user(&pool).await?,
        new_user(&pool).await?,
    );
    for user in [forgotten, deleted, kept] {
        apply(&store, user, full).await?;
    }
    let in_memory = memory.create_user();
    apply(&memory, in_memory, full).await?;

    // What `forget_user` runs.
    store.delete_user_rows(forgotten).await?;
    memory.delete_user_rows(in_memory).await?;
    let none = assert_readers_agree(&pool, &store, forgotten, "after delete_user_rows").await?;
    assert_eq!(none.mode, PortfolioMode::None);
    assert_eq!(none.accounts_count, 0);
    assert_eq!(memory.portfolio_mode(in_memory).await?, none);

    // The user deleted from auth: the cascade takes the summary row with the rest, and no trigger brings it back.
    execute(
        &pool,
        "delete from auth.users where id = $1",
        &[deleted.into_uuid()],
    )
    .await?;
    let left: i64 =
        sqlx::query_scalar("select count(*) from public.user_portfolio_summary where user_id = $1")
            .bind(deleted.into_uuid())
            .fetch_one(&pool)
            .await?;
    assert_eq!(left, 0, "the deleted user's summary row is gone");
    let service = function_as(&pool, Identity::ServiceRole, deleted).await?;
    assert_eq!(service, none, "the backend asking about a deleted user");
    assert_eq!(store.portfolio_mode(deleted).await?, none);

    let kept_now = assert_readers_agree(&pool, &store, kept, "a bystander").await?;
    assert_eq!(kept_now, expected(kept, full));
    Ok(())
}

const SUMMARY_MIGRATION: &str =
    include_str!("../../../../migrations/0025_portfolio_mode_summary.sql");

/// Rows written before migration 0025 (here: the summary emptied, and one row made wrong, behind the triggers'
/// back) are summarised when the migration is applied, and applying it again repairs rather than duplicates.
#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn applying_0025_back_fills_every_users_summary_from_the_rows_already_there(
    pool: PgPool,
) -> anyhow::Result<()> {
    let store = pg_store(&pool);
    let mut users = Vec::new();
    for setup in all_setups() {
        let user = new_user(&pool).await?;
        apply(&store, user, setup).await?;
        users.push((user, setup));
    }
    sqlx::query("delete from public.user_portfolio_summary where user_id <> $1")
        .bind(users[0].0.into_uuid())
        .execute(&pool)
        .await?;
    sqlx::query(
        "update public.user_portfolio_summary set accounts_count = 7, alpaca_account_id = 'wrong'",
    )
    .execute(&pool)
    .await?;
    sqlx::raw_sql(SUMMARY_MIGRATION).execute(&pool).await?;
    for (user, setup) in users {
        let truth = assert_readers_agree(&pool, &store, user, &format!("{setup:?}")).await?;
        assert_eq!(truth, expected(user, setup), "{setup:?}");
    }
    Ok(())
}
