//! Checks that a database holds the schema the migrations create: what `cargo run --example verify_migration`
//! prints. Unlike the design's script, it asks the catalog, so a check fails when an object is missing or weakened
//! (RLS off, a view without `security_invoker`, a function without a pinned `search_path`).

use sqlx::PgPool;

/// One check and its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What was checked, e.g. `table snaptrade_orders exists`.
    pub name: String,
    /// Whether the database passed it.
    pub passed: bool,
}

const TABLES: [&str; 6] = [
    "user_investment_accounts",
    "user_aggregated_holdings",
    "user_onboarding",
    "snaptrade_users",
    "snaptrade_brokerage_connections",
    "snaptrade_orders",
];

const NEW_COLUMNS: [(&str, &str); 10] = [
    ("user_investment_accounts", "snaptrade_authorization_id"),
    ("user_investment_accounts", "brokerage_name"),
    ("user_investment_accounts", "connection_type"),
    ("user_investment_accounts", "connection_status"),
    ("user_investment_accounts", "account_mode"),
    ("user_investment_accounts", "snaptrade_user_secret"),
    ("user_aggregated_holdings", "provider_metadata"),
    ("user_aggregated_holdings", "universal_symbol_id"),
    ("user_aggregated_holdings", "option_contract"),
    ("user_aggregated_holdings", "currency"),
];

const VIEWS: [&str; 2] = ["v_unified_investment_accounts", "v_portfolio_totals"];

/// Runs every check against `pool`'s database. A query that fails counts as a failed check, not an error, so the
/// report is always complete.
pub async fn verify_schema(pool: &PgPool) -> Vec<Check> {
    let mut checks = Vec::new();
    for table in TABLES {
        checks.push(
            ask(
                pool,
                format!("table {table} exists"),
                TABLE_EXISTS,
                &[table],
            )
            .await,
        );
        checks.push(
            ask(
                pool,
                format!("RLS is enabled on {table}"),
                RLS_ENABLED,
                &[table],
            )
            .await,
        );
    }
    for (table, column) in NEW_COLUMNS {
        checks.push(
            ask(
                pool,
                format!("column {table}.{column} exists"),
                COLUMN_EXISTS,
                &[table, column],
            )
            .await,
        );
    }
    for view in VIEWS {
        checks.push(ask(pool, format!("view {view} exists"), VIEW_EXISTS, &[view]).await);
        checks.push(
            ask(
                pool,
                format!("view {view} runs with security_invoker"),
                VIEW_INVOKER,
                &[view],
            )
            .await,
        );
    }
    let function = "get_user_portfolio_mode";
    checks.push(
        ask(
            pool,
            format!("function {function}(uuid) exists"),
            FUNCTION_EXISTS,
            &[function],
        )
        .await,
    );
    checks.push(
        ask(
            pool,
            "every public function pins its search_path".into(),
            SEARCH_PATHS_PINNED,
            &[],
        )
        .await,
    );
    checks
}

async fn ask(pool: &PgPool, name: String, sql: &'static str, binds: &[&str]) -> Check {
    let mut query = sqlx::query_scalar::<_, bool>(sql);
    for value in binds {
        query = query.bind(*value);
    }
    let passed = query.fetch_one(pool).await.unwrap_or(false);
    Check { name, passed }
}

const TABLE_EXISTS: &str =
    "select exists (select 1 from pg_class c join pg_namespace n on n.oid = c.relnamespace
                    where n.nspname = 'public' and c.relname = $1 and c.relkind = 'r')";
const RLS_ENABLED: &str = "select coalesce((select c.relrowsecurity from pg_class c join pg_namespace n on n.oid = c.relnamespace
                    where n.nspname = 'public' and c.relname = $1), false)";
const COLUMN_EXISTS: &str = "select exists (select 1 from information_schema.columns
                    where table_schema = 'public' and table_name = $1 and column_name = $2)";
const VIEW_EXISTS: &str =
    "select exists (select 1 from pg_class c join pg_namespace n on n.oid = c.relnamespace
                    where n.nspname = 'public' and c.relname = $1 and c.relkind = 'v')";
const VIEW_INVOKER: &str = "select coalesce((select 'security_invoker=true' = any (c.reloptions)
                    from pg_class c join pg_namespace n on n.oid = c.relnamespace
                    where n.nspname = 'public' and c.relname = $1), false)";
const FUNCTION_EXISTS: &str = "select to_regprocedure('public.' || $1 || '(uuid)') is not null";
const SEARCH_PATHS_PINNED: &str = "select not exists (
                    select 1 from pg_proc p join pg_namespace n on n.oid = p.pronamespace
                    where n.nspname = 'public'
                      and not exists (select 1 from unnest(coalesce(p.proconfig, '{}')) c where c like 'search_path=%'))";
