//! The RLS matrix: for every table, each of anon / the owner / another signed-in user / service_role, and each
//! of select, insert, update and delete, the schema allows or denies exactly as intended. Identities are switched
//! the way PostgREST does it, inside a transaction that is rolled back.

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
