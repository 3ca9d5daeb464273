//! The RLS matrix: per table and per column, exactly what the API roles may do through Supabase's Data API,
//! and a proof that everything else is refused. The engine trusts these rows (an Alpaca account row names the
//! account an order goes to), so the backend alone writes them: a signed-in user (`authenticated`) reads their
//! own rows and may update three preferences of their own accounts; `anon` may do nothing at all. Identities are
//! switched the way PostgREST does it, inside a transaction that is rolled back.
//!
//! Then every function and view in `public` (a new one fails the test until its rules are added here), and the
//! user-scoped repository mode (`PgStore::for_user`): each repository read answers only the user's rows, every
//! repository write is refused, and with the Rust code's scoping set aside, row-level security alone still hides
//! everyone else's rows.

use std::collections::BTreeSet;

use sqlx::PgPool;
use tributary_testdb::{Identity, create_auth_user};
use uuid::Uuid;

/// What `authenticated` may do on one table (or view), on its own rows. Nothing else is allowed to it, nothing at
/// all to `anon`, and nothing on another user's rows.
struct TableRules {
    table: &'static str,
    /// A complete row for the user `{user}` (with the user's account `{account}` where one is needed), as a
    /// client would try to insert it.
    insert: &'static str,
    /// Whether the owner may read their rows.
    owner_reads: bool,
    /// Columns the owner may not read even on their own rows (sealed secrets, for the backend only).
    hidden: &'static [&'static str],
    /// The columns the owner may update on their own rows; every other column is refused.
    owner_updates: &'static [&'static str],
    /// One row per user: the owner's row is removed (as superuser, in the same rolled-back transaction) before an
    /// insert is tried, so a refusal can only come from privileges or RLS.
    one_row_per_user: bool,
}

/// The preferences a user may change on their own accounts, and nothing else anywhere.
const ACCOUNT_PREFERENCES: &[&str] = &["account_name", "sync_enabled", "is_primary"];

const TABLES: &[TableRules] = &[
    TableRules {
        table: "user_investment_accounts",
        insert: "insert into public.user_investment_accounts
                   (user_id, provider, provider_account_id, institution_name, account_type, connection_type, is_active)
                 values ('{user}', 'alpaca', gen_random_uuid()::text, 'Alpaca', 'brokerage', 'trade', true)",
        owner_reads: true,
        hidden: &["snaptrade_user_secret", "access_token_encrypted"],
        owner_updates: ACCOUNT_PREFERENCES,
        one_row_per_user: false,
    },
    TableRules {
        table: "user_aggregated_holdings",
        insert: "insert into public.user_aggregated_holdings (user_id, symbol, total_quantity, total_market_value)
                 values ('{user}', 'X' || gen_random_uuid(), 1000, 1000000)",
        owner_reads: true,
        hidden: &[],
        owner_updates: &[],
        one_row_per_user: false,
    },
    TableRules {
        table: "user_onboarding",
        insert: "insert into public.user_onboarding (user_id, status, alpaca_account_id)
                 values ('{user}', 'approved', gen_random_uuid()::text)",
        owner_reads: true,
        hidden: &[],
        owner_updates: &[],
        one_row_per_user: true,
    },
    TableRules {
        table: "snaptrade_users",
        insert: "insert into public.snaptrade_users (user_id, snaptrade_user_id, snaptrade_user_secret)
                 values ('{user}', gen_random_uuid()::text, 'sealed')",
        owner_reads: true,
        hidden: &["snaptrade_user_secret"],
        owner_updates: &[],
        one_row_per_user: true,
    },
    TableRules {
        table: "plaid_items",
        insert: "insert into public.plaid_items (user_id, item_id, access_token_encrypted, status)
                 values ('{user}', gen_random_uuid()::text, 'v1:k1:c2VhbGVk', 'healthy')",
        owner_reads: true,
        hidden: &["access_token_encrypted"],
        owner_updates: &[],
        one_row_per_user: false,
    },
    TableRules {
        table: "snaptrade_brokerage_connections",
        insert: "insert into public.snaptrade_brokerage_connections
                   (user_id, authorization_id, brokerage_slug, brokerage_name, connection_type, status)
                 values ('{user}', gen_random_uuid(), 'ALPACA', 'Alpaca', 'trade', 'active')",
        owner_reads: true,
        hidden: &[],
        owner_updates: &[],
        one_row_per_user: false,
    },
    TableRules {
        table: "snaptrade_orders",
        insert: "insert into public.snaptrade_orders
                   (user_id, account_id, brokerage_order_id, symbol, action, order_type, status, filled_units)
                 values ('{user}', '{account}', gen_random_uuid()::text, 'AAPL', 'BUY', 'Market', 'EXECUTED', 10)",
        owner_reads: true,
        hidden: &[],
        owner_updates: &[],
        one_row_per_user: false,
    },
    TableRules {
        table: "snaptrade_webhook_events",
        insert: "insert into public.snaptrade_webhook_events (provider, webhook_id, event_type, user_id)
                 values ('plaid', gen_random_uuid()::text, 'ITEM:ERROR', '{user}')",
        // Backend only: not even the user the event names may see it.
        owner_reads: false,
        hidden: &[],
        owner_updates: &[],
        one_row_per_user: false,
    },
    TableRules {
        table: "event_stream_positions",
        insert: "insert into public.event_stream_positions (stream_name, last_event_id)
                 values ('s:' || gen_random_uuid(), '01G112NTT0XAXKDZK3AABK68TH')",
        // Backend only (migration 0020): a stream's position is the service's; a user who could move it would
        // make the follower skip events.
        owner_reads: false,
        hidden: &[],
        owner_updates: &[],
        one_row_per_user: false,
    },
    TableRules {
        table: "investment_transactions",
        insert: "insert into public.investment_transactions
                   (user_id, account_id, provider, provider_transaction_id, trade_date, transaction_type, amount,
                    currency)
                 values ('{user}', '{account}', 'snaptrade', gen_random_uuid()::text, current_date, 'deposit',
                         1000000, 'USD')",
        // Migration 0024: the value history is derived from these rows; a user who could write them would
        // forge their own performance.
        owner_reads: true,
        hidden: &[],
        owner_updates: &[],
        one_row_per_user: false,
    },
    TableRules {
        table: "investment_transaction_sync",
        insert: "insert into public.investment_transaction_sync (user_id, account_id, synced_through)
                 values ('{user}', '{account}', '2099-12-31')",
        // A user who moved it forward would make the next sync skip transactions.
        owner_reads: true,
        hidden: &[],
        owner_updates: &[],
        one_row_per_user: true,
    },
    TableRules {
        table: "user_sync_schedule",
        insert: "insert into public.user_sync_schedule (user_id, syncable, last_synced_at)
                 values ('{user}', true, now())",
        // Backend only (migration 0023): the scheduler's bookkeeping, kept by triggers; a user who could write it
        // would skip their own syncs or crowd out everyone else's.
        owner_reads: false,
        hidden: &[],
        owner_updates: &[],
        one_row_per_user: true,
    },
    TableRules {
        table: "user_portfolio_summary",
        insert: "insert into public.user_portfolio_summary (user_id, alpaca_account_id, plaid_accounts, accounts_count)
                 values ('{user}', gen_random_uuid()::text, 1, 1)",
        // Migration 0025: kept by triggers from the accounts and onboarding rows; the owner may read their own
        // row (it shows nothing those rows do not), and a user who could write it would change their own mode.
        owner_reads: true,
        hidden: &[],
        owner_updates: &[],
        one_row_per_user: true,
    },
    TableRules {
        table: "portfolio_value_history",
        insert: "insert into public.portfolio_value_history (user_id, account_id, day, currency, market_value)
                 values ('{user}', null, current_date, 'USD', 1000000)",
        owner_reads: true,
        hidden: &[],
        owner_updates: &[],
        one_row_per_user: false,
    },
];

/// The views: read with the caller's rights (so RLS applies), never written.
const VIEW_RULES: [TableRules; 2] = [
    TableRules {
        table: "v_unified_investment_accounts",
        insert: "",
        owner_reads: true,
        hidden: &[],
        owner_updates: &[],
        one_row_per_user: false,
    },
    TableRules {
        table: "v_portfolio_totals",
        insert: "",
        owner_reads: true,
        hidden: &[],
        owner_updates: &[],
        one_row_per_user: false,
    },
];

/// One row of every kind for `owner`, written as the backend (superuser); returns the owner's account.
async fn seed_owner(pool: &PgPool, owner: Uuid) -> sqlx::Result<Uuid> {
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
        "insert into snaptrade_webhook_events (provider, webhook_id, event_type, user_id)
         values ('snaptrade', 'id:' || $1::text, 'CONNECTION_BROKEN', $1)",
        "insert into snaptrade_webhook_events (provider, webhook_id, event_type, user_id)
         values ('plaid', 'iat:1:sha256:' || $1::text, 'HOLDINGS:DEFAULT_UPDATE', $1)",
        "insert into plaid_items (user_id, item_id, access_token_encrypted, status, error_code)
         values ($1, 'item-1', 'v1:k1:c2VhbGVk', 'login_required', 'ITEM_LOGIN_REQUIRED')",
        "insert into event_stream_positions (stream_name, last_event_id)
         values ('alpaca/trade-events:' || $1::text, '01G112NTT0XAXKDZK3AABK68TH')",
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
    for sql in [
        "insert into investment_transactions
           (user_id, account_id, provider, provider_transaction_id, trade_date, transaction_type, amount, currency)
         values ($1, $2, 'snaptrade', 'tx-1', '2025-01-02', 'buy', -100, 'USD')",
        "insert into investment_transaction_sync (user_id, account_id, synced_through) values ($1, $2, '2025-01-02')",
        "insert into portfolio_value_history (user_id, account_id, day, currency, market_value)
         values ($1, $2, '2025-01-02', 'USD', 100), ($1, null, '2025-01-02', 'USD', 100)",
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(owner)
            .bind(account)
            .execute(pool)
            .await?;
    }
    Ok(account)
}

/// The SQLSTATE of a refused call, if it was refused by the database.
fn sqlstate<T>(outcome: &sqlx::Result<T>) -> Option<String> {
    outcome
        .as_ref()
        .err()
        .and_then(|error| error.as_database_error())
        .and_then(|error| error.code())
        .map(|code| code.into_owned())
}

// ---------------------------------------------------------------------------------------------------------
// The attack: a signed-in user forging rows the engine trusts

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn a_signed_in_user_cannot_insert_a_trading_account_naming_another_customers_alpaca_account(
    pool: PgPool,
) -> Result<(), Box<dyn std::error::Error>> {
    let attacker = create_auth_user(&pool).await?;
    let victims_alpaca_account = Uuid::new_v4();
    let mut tx = pool.begin().await?;
    Identity::User(attacker).apply(&mut tx).await?;
    let forged = sqlx::query(
        "insert into user_investment_accounts
           (user_id, provider, provider_account_id, institution_name, account_type, connection_type, is_active)
         values ($1, 'alpaca', $2, 'Alpaca', 'brokerage', 'trade', true)",
    )
    .bind(attacker)
    .bind(victims_alpaca_account.to_string())
    .execute(&mut *tx)
    .await;
    tx.rollback().await?;
    assert_eq!(
        sqlstate(&forged).as_deref(),
        Some("42501"),
        "the forged trading account was accepted: {forged:?}"
    );
    let stored: i64 = sqlx::query_scalar("select count(*) from user_investment_accounts")
        .fetch_one(&pool)
        .await?;
    assert_eq!(stored, 0);
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------
// Every write, tried

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Anon,
    Owner,
    Other,
    Service,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    Select,
    Insert,
    /// `update ... set <column> = <column>` on the owner's rows.
    Update(String),
    Delete,
    Truncate,
}

/// The columns of a table or view, in order.
async fn columns(pool: &PgPool, table: &str) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "select a.attname::text from pg_catalog.pg_attribute a
         where a.attrelid = ('public.' || $1)::regclass and a.attnum > 0 and not a.attisdropped
         order by a.attnum",
    )
    .bind(table)
    .fetch_all(pool)
    .await
}

/// Runs one action on the owner's rows as `identity`; true when it took effect on at least one row. A refusal
/// (42501: no privilege, or a row-level security check) is `false`; any other error fails the test.
async fn attempt(
    pool: &PgPool,
    rules: &TableRules,
    action: &Action,
    identity: Identity,
    owner: Uuid,
    account: Uuid,
) -> sqlx::Result<bool> {
    let table = rules.table;
    let mut tx = pool.begin().await?;
    if *action == Action::Insert && rules.one_row_per_user {
        let clear = format!("delete from public.{table} where user_id = $1");
        sqlx::query(sqlx::AssertSqlSafe(clear))
            .bind(owner)
            .execute(&mut *tx)
            .await?;
    }
    let generated: Vec<String> = sqlx::query_scalar(
        "select a.attname::text from pg_catalog.pg_attribute a
         where a.attrelid = ('public.' || $1)::regclass and a.attgenerated <> ''",
    )
    .bind(table)
    .fetch_all(&mut *tx)
    .await?;
    identity.apply(&mut tx).await?;
    // The owner's rows: by user_id, but a backend-only table keyed otherwise names its seeded row.
    let owner_rows = match table {
        "event_stream_positions" => format!("stream_name = 'alpaca/trade-events:{owner}'"),
        _ => format!("user_id = '{owner}'"),
    };
    let sql = match action {
        Action::Select => format!("select 1 from public.{table} where {owner_rows}"),
        Action::Insert => rules
            .insert
            .replace("{user}", &owner.to_string())
            .replace("{account}", &account.to_string()),
        // A generated column takes no value but its own expression: `= default` is the update it allows.
        Action::Update(column) if generated.contains(column) => {
            format!("update public.{table} set \"{column}\" = default where {owner_rows}")
        }
        Action::Update(column) => {
            format!("update public.{table} set \"{column}\" = \"{column}\" where {owner_rows}")
        }
        Action::Delete => format!("delete from public.{table} where {owner_rows}"),
        Action::Truncate => format!("truncate public.{table} cascade"),
    };
    let outcome = sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&mut *tx)
        .await
        .map(|done| *action == Action::Truncate || done.rows_affected() > 0);
    // `select` reports its rows through rows_affected too.
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

/// What the matrix allows: the owner reads (unless the table is backend only) and updates the listed columns;
/// service_role (the backend through the API key) reads and writes everything; anon and another user nothing.
fn expected(rules: &TableRules, who: Who, action: &Action) -> bool {
    match who {
        Who::Anon | Who::Other => false,
        Who::Service => true,
        Who::Owner => match action {
            Action::Select => rules.owner_reads,
            Action::Update(column) => rules.owner_updates.contains(&column.as_str()),
            Action::Insert | Action::Delete | Action::Truncate => false,
        },
    }
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn every_write_but_an_owners_account_preferences_is_refused_on_every_table_and_column(
    pool: PgPool,
) -> Result<(), Box<dyn std::error::Error>> {
    let owner = create_auth_user(&pool).await?;
    let other = create_auth_user(&pool).await?;
    let account = seed_owner(&pool, owner).await?;

    let mut mismatches = Vec::new();
    for rules in TABLES {
        let mut actions = vec![
            Action::Select,
            Action::Insert,
            Action::Delete,
            Action::Truncate,
        ];
        actions.extend(
            columns(&pool, rules.table)
                .await?
                .into_iter()
                .map(Action::Update),
        );
        for who in [Who::Anon, Who::Owner, Who::Other, Who::Service] {
            let identity = match who {
                Who::Anon => Identity::Anon,
                Who::Owner => Identity::User(owner),
                Who::Other => Identity::User(other),
                Who::Service => Identity::ServiceRole,
            };
            for action in &actions {
                // The backend's own TRUNCATE is not the API's business.
                if who == Who::Service && *action == Action::Truncate {
                    continue;
                }
                let took_effect = attempt(&pool, rules, action, identity, owner, account).await?;
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

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn an_owner_changes_an_accounts_preferences_and_nothing_the_engine_trusts(
    pool: PgPool,
) -> Result<(), Box<dyn std::error::Error>> {
    let owner = create_auth_user(&pool).await?;
    let account = seed_owner(&pool, owner).await?;
    let mut tx = pool.begin().await?;
    Identity::User(owner).apply(&mut tx).await?;
    let renamed = sqlx::query(
        "update user_investment_accounts set account_name = 'Savings', sync_enabled = false, is_primary = true
         where id = $1",
    )
    .bind(account)
    .execute(&mut *tx)
    .await?;
    assert_eq!(renamed.rows_affected(), 1);
    for forged in [
        "is_active = true",
        "connection_type = 'trade'",
        "connection_status = 'active'",
        "provider = 'alpaca'",
        "provider_account_id = 'someone-elses'",
        "user_id = gen_random_uuid()",
    ] {
        let outcome = sqlx::query(sqlx::AssertSqlSafe(format!(
            "update user_investment_accounts set account_name = 'x', {forged} where id = '{account}'"
        )))
        .execute(&mut *tx)
        .await;
        assert_eq!(
            sqlstate(&outcome).as_deref(),
            Some("42501"),
            "{forged}: {outcome:?}"
        );
        // A refused statement aborts the transaction; start the next try afresh.
        tx.rollback().await?;
        tx = pool.begin().await?;
        Identity::User(owner).apply(&mut tx).await?;
    }
    tx.rollback().await?;
    Ok(())
}

/// Every privilege `role` holds on `relation`, table-wide and per column, as `PRIVILEGE` or `PRIVILEGE(column)`.
async fn privileges_of(
    pool: &PgPool,
    role: &str,
    relation: &str,
) -> sqlx::Result<BTreeSet<String>> {
    let held: Vec<String> = sqlx::query_scalar(
        "select p.privilege from unnest(array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES',
                                              'TRIGGER']) as p(privilege)
         where pg_catalog.has_table_privilege($1, ('public.' || $2)::regclass, p.privilege)
         union all
         select p.privilege || '(' || a.attname || ')'
         from pg_catalog.pg_attribute a
         cross join unnest(array['SELECT', 'INSERT', 'UPDATE', 'REFERENCES']) as p(privilege)
         where a.attrelid = ('public.' || $2)::regclass and a.attnum > 0 and not a.attisdropped
           and pg_catalog.has_column_privilege($1, a.attrelid, a.attnum, p.privilege)",
    )
    .bind(role)
    .bind(relation)
    .fetch_all(pool)
    .await?;
    Ok(held.into_iter().collect())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn the_api_roles_hold_exactly_the_privileges_the_matrix_lists_and_no_truncate_trigger_or_references(
    pool: PgPool,
) -> Result<(), Box<dyn std::error::Error>> {
    let relations: Vec<String> = sqlx::query_scalar(
        "select c.relname::text from pg_catalog.pg_class c
         where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p', 'v', 'm', 'f')
         order by 1",
    )
    .fetch_all(&pool)
    .await?;
    let mut mismatches = Vec::new();
    for relation in &relations {
        let rules = TABLES
            .iter()
            .chain(&VIEW_RULES)
            .find(|rules| rules.table == relation);
        let mut expected = BTreeSet::new();
        if let Some(rules) = rules {
            let all = columns(&pool, relation).await?;
            let readable: Vec<_> = all
                .iter()
                .filter(|column| rules.owner_reads && !rules.hidden.contains(&column.as_str()))
                .collect();
            if rules.owner_reads && readable.len() == all.len() {
                expected.insert("SELECT".to_owned());
            }
            expected.extend(readable.iter().map(|column| format!("SELECT({column})")));
            expected.extend(
                rules
                    .owner_updates
                    .iter()
                    .map(|column| format!("UPDATE({column})")),
            );
        }
        // Anything else in public (sqlx's `_sqlx_migrations`) is nobody's through the API.
        for (role, expected) in [("authenticated", &expected), ("anon", &BTreeSet::new())] {
            let held = privileges_of(&pool, role, relation).await?;
            if held != *expected {
                mismatches.push(format!(
                    "{role} on {relation}: holds {:?}, lacks {:?}",
                    held.difference(expected).collect::<Vec<_>>(),
                    expected.difference(&held).collect::<Vec<_>>()
                ));
            }
        }
    }
    // A table created later does not get TRUNCATE, TRIGGER or REFERENCES either.
    let defaults: Vec<String> = sqlx::query_scalar(
        "select g.grantee::regrole::text || ' ' || g.privilege_type
         from pg_catalog.pg_default_acl d, aclexplode(d.defaclacl) g
         where d.defaclnamespace = 'public'::regnamespace and d.defaclobjtype = 'r'
           and g.grantee in ('anon'::regrole, 'authenticated'::regrole)
           and g.privilege_type in ('TRUNCATE', 'TRIGGER', 'REFERENCES')",
    )
    .fetch_all(&pool)
    .await?;
    assert!(
        defaults.is_empty(),
        "default privileges in public: {defaults:?}"
    );
    assert!(
        mismatches.is_empty(),
        "privileges of the API roles:\n{}",
        mismatches.join("\n")
    );
    Ok(())
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn every_key_between_user_tables_and_every_provider_key_carries_the_user(
    pool: PgPool,
) -> Result<(), Box<dyn std::error::Error>> {
    // Foreign keys from one public table to another, and unique keys other than the row's own id, that leave
    // user_id out. snaptrade_webhook_events is keyed by SnapTrade's webhook id and is outside this rule's scope
    // until its own migration scopes it.
    let unscoped: Vec<String> = sqlx::query_scalar(
        "select c.conrelid::regclass::text || '.' || c.conname
         from pg_catalog.pg_constraint c
         join pg_catalog.pg_class t on t.oid = c.conrelid
         where t.relnamespace = 'public'::regnamespace
           and t.relname not in ('snaptrade_webhook_events', '_sqlx_migrations')
           and (
             (c.contype = 'f' and c.confrelid in (select oid from pg_catalog.pg_class
                                                   where relnamespace = 'public'::regnamespace)
              and not (exists (select 1 from unnest(c.conkey) k
                               join pg_catalog.pg_attribute a on a.attrelid = c.conrelid and a.attnum = k
                               where a.attname = 'user_id')
                       and exists (select 1 from unnest(c.confkey) k
                                   join pg_catalog.pg_attribute a on a.attrelid = c.confrelid and a.attnum = k
                                   where a.attname = 'user_id')))
             or (c.contype = 'u'
                 and not exists (select 1 from unnest(c.conkey) k
                                 join pg_catalog.pg_attribute a on a.attrelid = c.conrelid and a.attnum = k
                                 where a.attname = 'user_id'))
           )
         order by 1",
    )
    .fetch_all(&pool)
    .await?;
    assert!(unscoped.is_empty(), "keys without user_id: {unscoped:?}");
    let composite: bool = sqlx::query_scalar(
        "select exists (select 1 from pg_catalog.pg_constraint
                        where conname = 'snaptrade_orders_account_id_user_id_fkey' and contype = 'f')",
    )
    .fetch_one(&pool)
    .await?;
    assert!(composite, "orders reference (account_id, user_id)");
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------
// Functions and views

/// Every function and view in `public` that the matrix below covers. A new one fails
/// `every_function_and_view_in_public_is_in_the_matrix` until its rules are added here.
const FUNCTIONS: &[&str] = &[
    "decide_portfolio_mode",
    "get_user_portfolio_mode",
    "keep_transaction_currency",
    "schedule_user_sync",
    "stamp_aggregated_holding",
    "summarise_accounts",
    "summarise_onboarding",
    "update_updated_at_column",
];
const VIEWS: &[&str] = &["v_portfolio_totals", "v_unified_investment_accounts"];

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
        "select public.keep_transaction_currency()",
        "select public.schedule_user_sync()",
        "select public.summarise_accounts()",
        "select public.summarise_onboarding()",
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

/// The owners of the rows `identity` sees in `view` (or the refusal), and whether a delete through the view
/// took effect.
async fn view_as(
    pool: &PgPool,
    view: &str,
    identity: Identity,
) -> sqlx::Result<(sqlx::Result<Vec<Uuid>>, bool)> {
    let mut tx = pool.begin().await?;
    identity.apply(&mut tx).await?;
    // `view` is one of the matrix's own names, never input.
    let seen = sqlx::query_scalar::<_, Uuid>(sqlx::AssertSqlSafe(format!(
        "select user_id from public.{view} order by user_id"
    )))
    .fetch_all(&mut *tx)
    .await;
    tx.rollback().await?;
    let mut tx = pool.begin().await?;
    identity.apply(&mut tx).await?;
    let deleted = sqlx::query(sqlx::AssertSqlSafe(format!("delete from public.{view}")))
        .execute(&mut *tx)
        .await
        .is_ok_and(|done| done.rows_affected() > 0);
    tx.rollback().await?;
    Ok((seen, deleted))
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn the_views_show_each_identity_only_the_rows_it_may_see_and_take_no_writes(
    pool: PgPool,
) -> Result<(), Box<dyn std::error::Error>> {
    let owner = create_auth_user(&pool).await?;
    let other = create_auth_user(&pool).await?;
    seed_owner(&pool, owner).await?;
    seed_owner(&pool, other).await?;
    let mut everyone = vec![owner, other];
    everyone.sort_unstable();

    for view in VIEWS {
        let (seen, deleted) = view_as(&pool, view, Identity::Anon).await?;
        assert_eq!(sqlstate(&seen).as_deref(), Some("42501"), "anon: {seen:?}");
        assert!(!deleted, "anon deleted through {view}");
        for (identity, expected) in [
            (Identity::User(owner), vec![owner]),
            (Identity::User(other), vec![other]),
            (Identity::ServiceRole, everyone.clone()),
        ] {
            let (seen, deleted) = view_as(&pool, view, identity).await?;
            assert_eq!(seen?, expected, "{identity:?} through {view}");
            assert!(!deleted, "{identity:?} deleted through {view}");
        }
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
        assert_eq!(
            as_alice.get_holding(alice, &aapl, None).await?.user_id,
            alice
        );
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
                is_forbidden(as_alice.get_holding(bob, &aapl, None).await),
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

    /// Everything the backend reads about `user`, to show that a refused write changed nothing.
    async fn everything_of(service: &PgStore, user: UserId) -> Result<String, RepoError> {
        Ok(format!(
            "{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
            service.list_accounts(user).await?,
            service.list_connections(user).await?,
            service.list_holdings(user).await?,
            service.list_orders(user, None).await?,
            service.portfolio_mode(user).await?,
            service
                .find_snaptrade_user(user)
                .await?
                .map(|registered| (registered.snaptrade_user_id, registered.last_sync_at)),
        ))
    }

    #[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
    async fn a_user_scoped_store_is_refused_every_write_of_every_repository(
        pool: PgPool,
    ) -> Result<(), Box<dyn std::error::Error>> {
        use chrono::Utc;
        use tributary_domain::{OrderStatus, SyncStatus};
        use tributary_repo::{AccountSyncState, ConnectionStatusChange};

        let service = PgStore::new(pool.clone(), Keyring::new(SecretKey::generate()));
        let alice = UserId::new(create_auth_user(&pool).await?);
        let mine = seed(&service, alice).await?;
        let before = everything_of(&service, alice).await?;
        let as_alice = service.for_user(alice);
        let now = Utc::now();
        let sync_state = AccountSyncState {
            account: mine.account,
            status: SyncStatus::Error,
            error_message: None,
        };
        let placed = order(alice, mine.account, "ord-2");

        let mut accepted = Vec::new();
        for (write, outcome) in [
            (
                "upsert_accounts (an Alpaca trading account)",
                is_forbidden(
                    as_alice
                        .upsert_accounts(alice, &[account(alice, Provider::Alpaca, "victim")])
                        .await,
                ),
            ),
            (
                "record_account_sync",
                is_forbidden(
                    as_alice
                        .record_account_sync(alice, mine.account, SyncStatus::Error, None, now)
                        .await,
                ),
            ),
            (
                "record_account_syncs",
                is_forbidden(
                    as_alice
                        .record_account_syncs(alice, &[sync_state], now)
                        .await,
                ),
            ),
            (
                "upsert_snaptrade_user",
                is_forbidden(
                    as_alice
                        .upsert_snaptrade_user(alice, &snaptrade_user(alice, "forged", "secret"))
                        .await,
                ),
            ),
            (
                "record_snaptrade_sync",
                is_forbidden(as_alice.record_snaptrade_sync(alice, now).await),
            ),
            (
                "delete_snaptrade_user",
                is_forbidden(as_alice.delete_snaptrade_user(alice).await),
            ),
            (
                "upsert_connections",
                is_forbidden(
                    as_alice
                        .upsert_connections(
                            alice,
                            &[connection(alice, AuthorizationId::generate())],
                        )
                        .await,
                ),
            ),
            (
                "set_connection_status",
                is_forbidden(
                    as_alice
                        .set_connection_status(
                            alice,
                            mine.authorization,
                            ConnectionStatusChange::Active,
                        )
                        .await
                        .and(
                            as_alice
                                .set_connection_status(
                                    alice,
                                    mine.authorization,
                                    ConnectionStatusChange::Error {
                                        message: tributary_domain::StatusMessage::parse("forged")?,
                                    },
                                )
                                .await,
                        ),
                ),
            ),
            (
                "delete_connection",
                is_forbidden(as_alice.delete_connection(alice, mine.authorization).await),
            ),
            (
                "upsert_holdings",
                is_forbidden(
                    as_alice
                        .upsert_holdings(alice, &[holding(alice, "TSLA", "1000", "1000000")])
                        .await,
                ),
            ),
            (
                "replace_holdings",
                is_forbidden(
                    as_alice
                        .replace_holdings(alice, &[holding(alice, "AAPL", "1000", "1000000")])
                        .await,
                ),
            ),
            (
                "upsert_orders",
                is_forbidden(
                    as_alice
                        .upsert_orders(alice, std::slice::from_ref(&placed))
                        .await,
                ),
            ),
            (
                "confirm_order",
                is_forbidden(as_alice.confirm_order(alice, mine.order, &placed).await),
            ),
            (
                "update_order_status",
                is_forbidden(
                    as_alice
                        .update_order_status(alice, mine.order, OrderStatus::Filled, None)
                        .await,
                ),
            ),
            (
                "set_alpaca_account",
                is_forbidden(
                    as_alice
                        .set_alpaca_account(alice, Some(ProviderAccountId::parse("victim")?))
                        .await,
                ),
            ),
        ] {
            if let Err(answer) = outcome {
                accepted.push(format!("{write} as Alice: {answer}"));
            }
        }
        assert!(
            accepted.is_empty(),
            "user-scoped writes that were not refused:\n{}",
            accepted.join("\n")
        );
        assert_eq!(
            everything_of(&service, alice).await?,
            before,
            "nothing changed"
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
            .map(|rules| (rules.table, rules.owner_reads))
            .chain(VIEWS.iter().map(|view| (*view, true)));

        let mut mismatches = Vec::new();
        for (relation, owner_may_read) in relations {
            // A backend-only table may have no user_id (event_stream_positions): Alice may see none of it.
            let own: i64 = if owner_may_read {
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "select count(*) from public.{relation} where user_id = $1"
                )))
                .bind(alice)
                .fetch_one(&pool)
                .await?
            } else {
                0
            };
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
