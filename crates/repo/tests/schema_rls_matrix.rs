//! The RLS matrix: for every table, each of anon / the owner / another signed-in user / service_role, and each
//! of select, insert, update and delete, the schema allows or denies exactly as intended. Identities are switched
//! the way PostgREST does it, inside a transaction that is rolled back.
//!
//! Then every function and view in `public` (a new one fails the test until its rules are added here), and the
//! user-scoped repository mode (`PgStore::for_user`): each repository read answers only the user's rows, and
//! with the Rust code's scoping set aside, row-level security alone still hides everyone else's.

mod conformance;

use sqlx::PgPool;
use tributary_testdb::{Identity, create_auth_user};
use uuid::Uuid;

tributary_testdb::require_database!();

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Anon,
    Owner,
    Other,
    Service,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Select,
    Insert,
    Update,
    Delete,
}

use Action::{Delete, Insert, Select, Update};

struct TableRules {
    table: &'static str,
    insert: &'static str,
    update: &'static str,
    /// Tables with one row per user: the owner's row is removed (as superuser, in the same rolled-back
    /// transaction) before an insert is tried, so a refusal can only come from privileges or RLS.
    one_row_per_user: bool,
    /// What the owner may do; others never may, service_role always may, anon never may.
    owner_may: &'static [Action],
}

const ALL: &[Action] = &[Select, Insert, Update, Delete];

const TABLES: &[TableRules] = &[
    TableRules {
        table: "user_investment_accounts",
        insert: "insert into public.user_investment_accounts
                   (user_id, provider, provider_account_id, institution_name, account_type)
                 values ($1, 'plaid', gen_random_uuid()::text, 'Bank', 'ira')",
        update: "update public.user_investment_accounts set is_active = is_active where user_id = $1",
        one_row_per_user: false,
        owner_may: ALL,
    },
    TableRules {
        table: "user_aggregated_holdings",
        insert: "insert into public.user_aggregated_holdings (user_id, symbol) values ($1, 'X' || gen_random_uuid())",
        update: "update public.user_aggregated_holdings set security_name = security_name where user_id = $1",
        one_row_per_user: false,
        owner_may: ALL,
    },
    TableRules {
        table: "user_onboarding",
        insert: "insert into public.user_onboarding (user_id, status) values ($1, 'pending')",
        update: "update public.user_onboarding set status = status where user_id = $1",
        one_row_per_user: true,
        owner_may: &[Select],
    },
    TableRules {
        table: "snaptrade_users",
        insert:
            "insert into public.snaptrade_users (user_id, snaptrade_user_id, snaptrade_user_secret)
                 values ($1, gen_random_uuid()::text, 'sealed')",
        update: "update public.snaptrade_users set last_sync_at = now() where user_id = $1",
        one_row_per_user: true,
        owner_may: &[Select, Delete],
    },
    TableRules {
        table: "snaptrade_brokerage_connections",
        insert: "insert into public.snaptrade_brokerage_connections
                   (user_id, authorization_id, brokerage_slug, brokerage_name)
                 values ($1, gen_random_uuid(), 'ALPACA', 'Alpaca')",
        update: "update public.snaptrade_brokerage_connections set error_message = error_message where user_id = $1",
        one_row_per_user: false,
        owner_may: ALL,
    },
    TableRules {
        table: "snaptrade_orders",
        insert: "insert into public.snaptrade_orders
                   (user_id, account_id, brokerage_order_id, symbol, action, order_type, status)
                 select $1, a.id, gen_random_uuid()::text, 'AAPL', 'BUY', 'Market', 'PENDING'
                 from public.user_investment_accounts a where a.user_id = $1 limit 1",
        update: "update public.snaptrade_orders set status_message = status_message where user_id = $1",
        one_row_per_user: false,
        owner_may: ALL,
    },
    TableRules {
        table: "snaptrade_webhook_events",
        insert: "insert into public.snaptrade_webhook_events (webhook_id, event_type, user_id)
                 values (gen_random_uuid()::text, 'USER_DELETED', $1)",
        update: "update public.snaptrade_webhook_events set event_type = event_type where user_id = $1",
        one_row_per_user: false,
        // Backend only: not even the user the event names may see it.
        owner_may: &[],
    },
];

async fn seed_owner(pool: &PgPool, owner: Uuid) -> sqlx::Result<()> {
    let account: Uuid = sqlx::query_scalar(
        "insert into user_investment_accounts (user_id, provider, provider_account_id, institution_name, account_type)
         values ($1, 'snaptrade', 'acc-1', 'Bank', 'brokerage') returning id",
    )
    .bind(owner)
    .fetch_one(pool)
    .await?;
    for sql in [
        "insert into user_aggregated_holdings (user_id, symbol) values ($1, 'AAPL')",
        "insert into user_onboarding (user_id, status, alpaca_account_id) values ($1, 'approved', 'alp')",
        "insert into snaptrade_users (user_id, snaptrade_user_id, snaptrade_user_secret) values ($1, $1::text, 's')",
        "insert into snaptrade_brokerage_connections (user_id, authorization_id, brokerage_slug, brokerage_name)
         values ($1, gen_random_uuid(), 'ALPACA', 'Alpaca')",
        "insert into snaptrade_webhook_events (webhook_id, event_type, user_id)
         values ('id:' || $1::text, 'CONNECTION_BROKEN', $1)",
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(owner).execute(pool).await?;
    }
    sqlx::query(
        "insert into snaptrade_orders (user_id, account_id, brokerage_order_id, symbol, action, order_type, status)
         values ($1, $2, 'b-1', 'AAPL', 'BUY', 'Market', 'EXECUTED')",
    )
    .bind(owner)
    .bind(account)
    .execute(pool)
    .await?;
    Ok(())
}

/// Runs one action on the owner's rows as `identity`; true when it took effect on at least one row.
async fn attempt(
    pool: &PgPool,
    rules: &TableRules,
    action: Action,
    identity: Identity,
    owner: Uuid,
) -> sqlx::Result<bool> {
    let mut tx = pool.begin().await?;
    if action == Insert && rules.one_row_per_user {
        let clear = format!("delete from public.{} where user_id = $1", rules.table);
        sqlx::query(sqlx::AssertSqlSafe(clear))
            .bind(owner)
            .execute(&mut *tx)
            .await?;
    }
    identity.apply(&mut tx).await?;
    let select = format!(
        "select count(*) from public.{} where user_id = $1",
        rules.table
    );
    let delete = format!("delete from public.{} where user_id = $1", rules.table);
    let outcome = match action {
        Select => sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(select))
            .bind(owner)
            .fetch_one(&mut *tx)
            .await
            .map(|n| n > 0),
        Insert | Update | Delete => {
            let sql = match action {
                Insert => rules.insert.to_owned(),
                Update => rules.update.to_owned(),
                _ => delete,
            };
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(owner)
                .execute(&mut *tx)
                .await
                .map(|done| done.rows_affected() > 0)
        }
    };
    tx.rollback().await?;
    match outcome {
        Ok(took_effect) => Ok(took_effect),
        Err(error)
            if error.as_database_error().and_then(|e| e.code()).as_deref() == Some("42501") =>
        {
            Ok(false)
        }
        Err(other) => Err(other),
    }
}

fn expected(rules: &TableRules, who: Who, action: Action) -> bool {
    match who {
        Who::Anon | Who::Other => false,
        Who::Service => true,
        Who::Owner => rules.owner_may.contains(&action),
    }
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn every_table_allows_and_denies_exactly_as_intended(
    pool: PgPool,
) -> Result<(), Box<dyn std::error::Error>> {
    let owner = create_auth_user(&pool).await?;
    let other = create_auth_user(&pool).await?;
    seed_owner(&pool, owner).await?;

    let mut mismatches = Vec::new();
    for rules in TABLES {
        for who in [Who::Anon, Who::Owner, Who::Other, Who::Service] {
            let identity = match who {
                Who::Anon => Identity::Anon,
                Who::Owner => Identity::User(owner),
                Who::Other => Identity::User(other),
                Who::Service => Identity::ServiceRole,
            };
            for action in [Select, Insert, Update, Delete] {
                let took_effect = attempt(&pool, rules, action, identity, owner).await?;
                if took_effect != expected(rules, who, action) {
                    mismatches.push(format!(
                        "{} {who:?} {action:?}: took effect = {took_effect}",
                        rules.table
                    ));
                }
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "RLS matrix mismatches:\n{}",
        mismatches.join("\n")
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------
// Functions and views

/// Every function and view in `public` that the matrix below covers. A new one fails
/// `every_function_and_view_in_public_is_in_the_matrix` until its rules are added here.
const FUNCTIONS: &[&str] = &[
    "get_user_portfolio_mode",
    "stamp_aggregated_holding",
    "update_updated_at_column",
];
const VIEWS: &[&str] = &["v_unified_investment_accounts"];

/// The SQLSTATE of a refused call, if it was refused by the database.
fn sqlstate<T>(outcome: &sqlx::Result<T>) -> Option<String> {
    outcome
        .as_ref()
        .err()
        .and_then(|error| error.as_database_error())
        .and_then(|error| error.code())
        .map(|code| code.into_owned())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn every_function_and_view_in_public_is_in_the_matrix(
    pool: PgPool,
) -> Result<(), Box<dyn std::error::Error>> {
    // Functions an extension brought are the extension's business; the schema's own are listed.
    let functions: Vec<String> = sqlx::query_scalar(
        "select p.proname::text from pg_catalog.pg_proc p
         join pg_catalog.pg_namespace n on n.oid = p.pronamespace
         where n.nspname = 'public'
           and not exists (select 1 from pg_catalog.pg_depend d where d.objid = p.oid and d.deptype = 'e')
         order by 1",
    )
    .fetch_all(&pool)
    .await?;
    let views: Vec<String> = sqlx::query_scalar(
        "select c.relname::text from pg_catalog.pg_class c
         join pg_catalog.pg_namespace n on n.oid = c.relnamespace
         where n.nspname = 'public' and c.relkind in ('v', 'm')
         order by 1",
    )
    .fetch_all(&pool)
    .await?;
    let tables: Vec<String> = sqlx::query_scalar(
        "select c.relname::text from pg_catalog.pg_class c
         join pg_catalog.pg_namespace n on n.oid = c.relnamespace
         where n.nspname = 'public' and c.relkind in ('r', 'p') and c.relname <> '_sqlx_migrations'
         order by 1",
    )
    .fetch_all(&pool)
    .await?;
    let mut matrix_tables: Vec<&str> = TABLES.iter().map(|rules| rules.table).collect();
    matrix_tables.sort_unstable();
    assert_eq!(functions, FUNCTIONS, "functions in public");
    assert_eq!(views, VIEWS, "views in public");
    assert_eq!(tables, matrix_tables, "tables in public");
    Ok(())
}

/// Asks `get_user_portfolio_mode` about `target` as `identity`: the mode, or the refusal.
async fn portfolio_mode_as(
    pool: &PgPool,
    identity: Option<Identity>,
    target: Uuid,
) -> sqlx::Result<sqlx::Result<(String, i32)>> {
    let mut tx = pool.begin().await?;
    match identity {
        Some(identity) => identity.apply(&mut tx).await?,
        // Signed in as `authenticated` with no claims at all: auth.uid() is null.
        None => {
            sqlx::query("select set_config('role', 'authenticated', true)")
                .execute(&mut *tx)
                .await?;
        }
    }
    let outcome = sqlx::query_as::<_, (String, i32)>(
        "select mode, accounts_count from public.get_user_portfolio_mode($1)",
    )
    .bind(target)
    .fetch_one(&mut *tx)
    .await;
    tx.rollback().await?;
    Ok(outcome)
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn get_user_portfolio_mode_answers_its_own_user_and_the_backend_and_refuses_everyone_else(
    pool: PgPool,
) -> Result<(), Box<dyn std::error::Error>> {
    let owner = create_auth_user(&pool).await?;
    let other = create_auth_user(&pool).await?;
    // The owner: one active SnapTrade account and an Alpaca account, so hybrid; the other user has nothing.
    seed_owner(&pool, owner).await?;

    for (who, identity) in [
        ("the owner", Identity::User(owner)),
        ("service_role", Identity::ServiceRole),
    ] {
        let answer = portfolio_mode_as(&pool, Some(identity), owner).await?;
        assert_eq!(
            answer.map_err(|error| error.to_string()),
            Ok(("hybrid".to_owned(), 1)),
            "{who} asking about the owner"
        );
    }
    for (who, identity, target) in [
        ("anon", Some(Identity::Anon), owner),
        ("another user", Some(Identity::User(other)), owner),
        ("a signed-in role without claims", None, owner),
        (
            "anon about nobody in particular",
            Some(Identity::Anon),
            other,
        ),
    ] {
        let answer = portfolio_mode_as(&pool, identity, target).await?;
        assert_eq!(
            sqlstate(&answer).as_deref(),
            Some("42501"),
            "{who}: {answer:?}"
        );
    }
    Ok(())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn trigger_functions_run_only_as_triggers_whoever_calls_them(
    pool: PgPool,
) -> Result<(), Box<dyn std::error::Error>> {
    let user = create_auth_user(&pool).await?;
    let calls = [
        "select public.update_updated_at_column()",
        "select public.stamp_aggregated_holding()",
    ];
    for call in calls {
        for identity in [Identity::Anon, Identity::User(user), Identity::ServiceRole] {
            let mut tx = pool.begin().await?;
            identity.apply(&mut tx).await?;
            let called = sqlx::query(call).execute(&mut *tx).await;
            tx.rollback().await?;
            // 0A000: "trigger functions can only be called as triggers"; 42501 where EXECUTE is not granted.
            assert!(
                matches!(sqlstate(&called).as_deref(), Some("0A000" | "42501")),
                "{identity:?} ran `{call}`: {called:?}"
            );
        }
    }
    Ok(())
}

/// The owners of the rows `identity` sees in the unified view (or the refusal), and whether a delete
/// through the view took effect.
async fn unified_view_as(
    pool: &PgPool,
    identity: Identity,
) -> sqlx::Result<(sqlx::Result<Vec<Uuid>>, bool)> {
    let mut tx = pool.begin().await?;
    identity.apply(&mut tx).await?;
    let seen = sqlx::query_scalar::<_, Uuid>(
        "select user_id from public.v_unified_investment_accounts order by user_id",
    )
    .fetch_all(&mut *tx)
    .await;
    tx.rollback().await?;
    let mut tx = pool.begin().await?;
    identity.apply(&mut tx).await?;
    let deleted = sqlx::query("delete from public.v_unified_investment_accounts")
        .execute(&mut *tx)
        .await
        .is_ok_and(|done| done.rows_affected() > 0);
    tx.rollback().await?;
    Ok((seen, deleted))
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn the_unified_view_shows_each_identity_only_the_rows_it_may_see_and_takes_no_writes(
    pool: PgPool,
) -> Result<(), Box<dyn std::error::Error>> {
    let owner = create_auth_user(&pool).await?;
    let other = create_auth_user(&pool).await?;
    seed_owner(&pool, owner).await?;
    seed_owner(&pool, other).await?;
    let mut everyone = vec![owner, other];
    everyone.sort_unstable();

    let (seen, deleted) = unified_view_as(&pool, Identity::Anon).await?;
    assert_eq!(sqlstate(&seen).as_deref(), Some("42501"), "anon: {seen:?}");
    assert!(!deleted, "anon deleted through the view");
    for (identity, expected) in [
        (Identity::User(owner), vec![owner]),
        (Identity::User(other), vec![other]),
        (Identity::ServiceRole, everyone),
    ] {
        let (seen, deleted) = unified_view_as(&pool, identity).await?;
        assert_eq!(seen?, expected, "{identity:?} through the view");
        assert!(!deleted, "{identity:?} deleted through the view");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------
// The user-scoped repository mode (`PgStore::for_user`)

mod user_scoped {
    use tributary_domain::{AccountId, AuthorizationId, OrderId, PortfolioMode, Provider, Symbol};
    use tributary_domain::{ProviderAccountId, UserId};
    use tributary_repo::{
        AccountRepository, ConnectionRepository, HoldingRepository, Keyring, OrderRepository,
        PgStore, PortfolioRepository, RepoError, SecretKey, SnapTradeUserRepository,
    };

    use super::*;
    use crate::conformance::{account, connection, holding, order, snaptrade_user};

    /// What one user holds, one row of every kind, written in service mode.
    struct Seeded {
        account: AccountId,
        authorization: AuthorizationId,
        order: OrderId,
    }

    async fn seed(service: &PgStore, user: UserId) -> Result<Seeded, RepoError> {
        let accounts = service
            .upsert_accounts(
                user,
                &[account(user, Provider::SnapTrade, &format!("acc-{user}"))],
            )
            .await?;
        let authorization = AuthorizationId::generate();
        service
            .upsert_connections(user, &[connection(user, authorization)])
            .await?;
        service
            .replace_holdings(user, &[holding(user, "AAPL", "1", "200")])
            .await?;
        let orders = service
            .upsert_orders(user, &[order(user, accounts[0].id, "ord-1")])
            .await?;
        service
            .upsert_snaptrade_user(
                user,
                &snaptrade_user(user, &format!("snap-{user}"), "secret"),
            )
            .await?;
        Ok(Seeded {
            account: accounts[0].id,
            authorization,
            order: orders[0].id,
        })
    }

    fn is_forbidden<T: std::fmt::Debug>(outcome: Result<T, RepoError>) -> Result<(), String> {
        match outcome {
            Err(RepoError::Forbidden { .. }) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    }

    fn is_not_found<T: std::fmt::Debug>(outcome: Result<T, RepoError>) -> Result<(), String> {
        match outcome {
            Err(RepoError::NotFound { .. }) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    }

    #[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
    async fn a_user_scoped_store_reads_only_its_users_rows_through_every_repository_read(
        pool: PgPool,
    ) -> Result<(), Box<dyn std::error::Error>> {
        let service = PgStore::new(pool.clone(), Keyring::new(SecretKey::generate()));
        let alice = UserId::new(create_auth_user(&pool).await?);
        let bob = UserId::new(create_auth_user(&pool).await?);
        let mine = seed(&service, alice).await?;
        let bobs = seed(&service, bob).await?;
        service
            .set_alpaca_account(bob, Some(ProviderAccountId::parse("bobs-alpaca")?))
            .await?;
        let as_alice = service.for_user(alice);
        let aapl = Symbol::parse("AAPL")?;

        // Every read of her own rows answers what the backend reads for her: her rows, none of Bob's.
        let accounts = as_alice.list_accounts(alice).await?;
        assert_eq!(accounts, service.list_accounts(alice).await?);
        assert!(!accounts.is_empty() && accounts.iter().all(|a| a.user_id == alice));
        let connections = as_alice.list_connections(alice).await?;
        assert_eq!(connections, service.list_connections(alice).await?);
        assert!(!connections.is_empty() && connections.iter().all(|c| c.user_id == alice));
        let holdings = as_alice.list_holdings(alice).await?;
        assert_eq!(holdings, service.list_holdings(alice).await?);
        assert!(!holdings.is_empty() && holdings.iter().all(|h| h.user_id == alice));
        let orders = as_alice.list_orders(alice, None).await?;
        assert_eq!(orders, service.list_orders(alice, None).await?);
        assert!(!orders.is_empty() && orders.iter().all(|o| o.user_id == alice));
        let unified = as_alice.unified_accounts(alice).await?;
        assert_eq!(unified, service.unified_accounts(alice).await?);
        assert!(!unified.is_empty() && unified.iter().all(|u| u.user_id == alice));
        let mode = as_alice.portfolio_mode(alice).await?;
        assert_eq!(mode, service.portfolio_mode(alice).await?);
        assert_eq!(
            (mode.mode, mode.accounts_count),
            (PortfolioMode::Aggregation, 1)
        );
        assert_eq!(
            as_alice.get_account(alice, mine.account).await?.user_id,
            alice
        );
        assert_eq!(
            as_alice
                .get_connection(alice, mine.authorization)
                .await?
                .user_id,
            alice
        );
        assert_eq!(as_alice.get_holding(alice, &aapl).await?.user_id, alice);
        assert_eq!(as_alice.get_order(alice, mine.order).await?.user_id, alice);

        // Bob's rows asked for by their ids under her own name: not found, as if they did not exist.
        let mut leaks = Vec::new();
        for (read, outcome) in [
            (
                "get_account",
                is_not_found(as_alice.get_account(alice, bobs.account).await),
            ),
            (
                "get_connection",
                is_not_found(as_alice.get_connection(alice, bobs.authorization).await),
            ),
            (
                "get_order",
                is_not_found(as_alice.get_order(alice, bobs.order).await),
            ),
        ] {
            if let Err(answer) = outcome {
                leaks.push(format!("{read} of Bob's row as Alice: {answer}"));
            }
        }
        let bobs_orders = as_alice.list_orders(alice, Some(bobs.account)).await?;
        if !bobs_orders.is_empty() {
            leaks.push(format!(
                "list_orders of Bob's account as Alice: {bobs_orders:?}"
            ));
        }

        // Any read about Bob through Alice's store is refused before it reaches the database.
        for (read, outcome) in [
            (
                "list_accounts",
                is_forbidden(as_alice.list_accounts(bob).await),
            ),
            (
                "get_account",
                is_forbidden(as_alice.get_account(bob, bobs.account).await),
            ),
            (
                "list_connections",
                is_forbidden(as_alice.list_connections(bob).await),
            ),
            (
                "get_connection",
                is_forbidden(as_alice.get_connection(bob, bobs.authorization).await),
            ),
            (
                "list_holdings",
                is_forbidden(as_alice.list_holdings(bob).await),
            ),
            (
                "get_holding",
                is_forbidden(as_alice.get_holding(bob, &aapl).await),
            ),
            (
                "list_orders",
                is_forbidden(as_alice.list_orders(bob, None).await),
            ),
            (
                "get_order",
                is_forbidden(as_alice.get_order(bob, bobs.order).await),
            ),
            (
                "portfolio_mode",
                is_forbidden(as_alice.portfolio_mode(bob).await),
            ),
            (
                "unified_accounts",
                is_forbidden(as_alice.unified_accounts(bob).await),
            ),
            (
                "find_snaptrade_user",
                is_forbidden(as_alice.find_snaptrade_user(bob).await),
            ),
            // Her own SnapTrade secret too: the column is hidden from `authenticated`, the backend reads it.
            (
                "find_snaptrade_user (her own)",
                is_forbidden(as_alice.find_snaptrade_user(alice).await),
            ),
        ] {
            if let Err(answer) = outcome {
                leaks.push(format!("{read} about Bob as Alice: {answer}"));
            }
        }
        assert!(
            leaks.is_empty(),
            "user-scoped reads that leaked:\n{}",
            leaks.join("\n")
        );
        Ok(())
    }

    #[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
    async fn in_user_mode_row_level_security_alone_hides_other_users_rows_in_every_table_and_the_view(
        pool: PgPool,
    ) -> Result<(), Box<dyn std::error::Error>> {
        let service = PgStore::new(pool.clone(), Keyring::new(SecretKey::generate()));
        let alice = create_auth_user(&pool).await?;
        let bob = create_auth_user(&pool).await?;
        seed_owner(&pool, alice).await?;
        seed_owner(&pool, bob).await?;
        let relations = TABLES
            .iter()
            .map(|rules| (rules.table, rules.owner_may.contains(&Select)))
            .chain(VIEWS.iter().map(|view| (*view, true)));

        let mut mismatches = Vec::new();
        for (relation, owner_may_read) in relations {
            let own: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "select count(*) from public.{relation} where user_id = $1"
            )))
            .bind(alice)
            .fetch_one(&pool)
            .await?;
            // Deliberately no `where user_id = ...`: only the schema stands between Alice and Bob's rows.
            let mut tx = service
                .for_user(UserId::new(alice))
                .begin(UserId::new(alice))
                .await?;
            let seen = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!(
                "select count(*) from public.{relation}"
            )))
            .fetch_one(&mut *tx)
            .await;
            tx.rollback().await?;
            let expected = if owner_may_read { own } else { 0 };
            let seen_count = match &seen {
                Ok(count) => *count,
                Err(_) if sqlstate(&seen).as_deref() == Some("42501") => 0,
                Err(error) => return Err(format!("{relation}: {error}").into()),
            };
            if seen_count != expected {
                mismatches.push(format!(
                    "{relation}: Alice sees {seen_count} rows, expected {expected}"
                ));
            }
        }

        let mut tx = service
            .for_user(UserId::new(alice))
            .begin(UserId::new(alice))
            .await?;
        let about_bob = sqlx::query("select mode from public.get_user_portfolio_mode($1)")
            .bind(bob)
            .fetch_one(&mut *tx)
            .await;
        tx.rollback().await?;
        if sqlstate(&about_bob).as_deref() != Some("42501") {
            mismatches.push(format!(
                "get_user_portfolio_mode(Bob) as Alice: {about_bob:?}"
            ));
        }
        assert!(
            mismatches.is_empty(),
            "user mode mismatches:\n{}",
            mismatches.join("\n")
        );
        Ok(())
    }
}
