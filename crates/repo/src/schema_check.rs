//! Checks that a database holds the schema the migrations create: what `cargo run --example verify_migration`
//! prints. Unlike the design's script, it asks the catalog, so a check fails when an object is missing or weakened
//! (RLS off, a view without `security_invoker`, a function without a pinned `search_path`, a decimal column
//! narrower than the domain type that holds it).

use sqlx::PgPool;
use tributary_domain::{Amount, Notional, Percent, Price, Quantity, SignedAmount, UnitCost, Units};

/// One check and its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What was checked, e.g. `table snaptrade_orders exists`.
    pub name: String,
    /// Whether the database passed it.
    pub passed: bool,
}

const TABLES: [&str; 10] = [
    "user_investment_accounts",
    "user_aggregated_holdings",
    "user_onboarding",
    "snaptrade_users",
    "snaptrade_brokerage_connections",
    "snaptrade_orders",
    "plaid_items",
    "event_stream_positions",
    "user_sync_schedule",
    // The per-user facts and decided mode get_user_portfolio_mode reads (migration 0025).
    "user_portfolio_summary",
];

/// The history's tables (migration 0024).
const HISTORY_TABLES: [&str; 3] = [
    "investment_transactions",
    "investment_transaction_sync",
    "portfolio_value_history",
];

const NEW_COLUMNS: [(&str, &str); 12] = [
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
    // The webhook inbox serves every provider (migration 0021).
    ("snaptrade_webhook_events", "provider"),
    // The decided mode, generated from the summary's facts by decide_portfolio_mode (migration 0025).
    ("user_portfolio_summary", "mode"),
];

const VIEWS: [&str; 2] = ["v_unified_investment_accounts", "v_portfolio_totals"];
/// Every decimal column, with the precision and scale of the domain type that holds it (migration 0017 for
/// most): a column narrower than its type would round or refuse a number the domain accepts exactly.
const DECIMAL_COLUMNS: [(&str, &str, u32, u32); 14] = [
    (
        "user_aggregated_holdings",
        "total_quantity",
        Quantity::PRECISION,
        Quantity::SCALE,
    ),
    (
        "user_aggregated_holdings",
        "total_market_value",
        Amount::PRECISION,
        Amount::SCALE,
    ),
    (
        "user_aggregated_holdings",
        "total_cost_basis",
        Amount::PRECISION,
        Amount::SCALE,
    ),
    (
        "user_aggregated_holdings",
        "average_cost_basis",
        UnitCost::PRECISION,
        UnitCost::SCALE,
    ),
    (
        "user_aggregated_holdings",
        "unrealized_gain_loss",
        SignedAmount::PRECISION,
        SignedAmount::SCALE,
    ),
    (
        "user_aggregated_holdings",
        "unrealized_gain_loss_percent",
        Percent::PRECISION,
        Percent::SCALE,
    ),
    (
        "user_aggregated_holdings",
        "day_change_value",
        SignedAmount::PRECISION,
        SignedAmount::SCALE,
    ),
    (
        "user_aggregated_holdings",
        "day_change_percent",
        Percent::PRECISION,
        Percent::SCALE,
    ),
    ("snaptrade_orders", "units", Units::PRECISION, Units::SCALE),
    (
        "snaptrade_orders",
        "filled_units",
        Units::PRECISION,
        Units::SCALE,
    ),
    (
        "snaptrade_orders",
        "notional_value",
        Notional::PRECISION,
        Notional::SCALE,
    ),
    (
        "snaptrade_orders",
        "limit_price",
        Price::PRECISION,
        Price::SCALE,
    ),
    (
        "snaptrade_orders",
        "stop_price",
        Price::PRECISION,
        Price::SCALE,
    ),
    (
        "snaptrade_orders",
        "average_fill_price",
        Price::PRECISION,
        Price::SCALE,
    ),
];

/// The history's money columns (migration 0024), each the shape of the domain type that holds it.
const HISTORY_DECIMAL_COLUMNS: [(&str, &str, u32, u32); 6] = [
    (
        "investment_transactions",
        "amount",
        SignedAmount::PRECISION,
        SignedAmount::SCALE,
    ),
    (
        "investment_transactions",
        "fees",
        SignedAmount::PRECISION,
        SignedAmount::SCALE,
    ),
    (
        "portfolio_value_history",
        "market_value",
        SignedAmount::PRECISION,
        SignedAmount::SCALE,
    ),
    (
        "portfolio_value_history",
        "cost_basis",
        Amount::PRECISION,
        Amount::SCALE,
    ),
    (
        "portfolio_value_history",
        "cash",
        SignedAmount::PRECISION,
        SignedAmount::SCALE,
    ),
    (
        "portfolio_value_history",
        "net_contributions",
        SignedAmount::PRECISION,
        SignedAmount::SCALE,
    ),
];

/// Columns that keep a provider's number whatever its digits (a transaction's quantity and price): plain
/// `numeric`, which any typmod would round or refuse.
const UNBOUNDED_COLUMNS: [(&str, &str); 2] = [
    ("investment_transactions", "quantity"),
    ("investment_transactions", "price"),
];

/// Runs every check against `pool`'s database. A query that fails counts as a failed check, not an error, so the
/// report is always complete.
pub async fn verify_schema(pool: &PgPool) -> Vec<Check> {
    let mut checks = Vec::new();
    for table in TABLES.into_iter().chain(HISTORY_TABLES) {
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
    for (table, column, precision, scale) in
        DECIMAL_COLUMNS.into_iter().chain(HISTORY_DECIMAL_COLUMNS)
    {
        let shape = format!("numeric({precision},{scale})");
        checks.push(
            ask(
                pool,
                format!("column {table}.{column} is {shape}"),
                COLUMN_TYPE,
                &[table, column, &shape],
            )
            .await,
        );
    }
    for (table, column) in UNBOUNDED_COLUMNS {
        checks.push(
            ask(
                pool,
                format!("column {table}.{column} is numeric"),
                COLUMN_TYPE,
                &[table, column, "numeric"],
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
const COLUMN_TYPE: &str =
    "select coalesce((select pg_catalog.format_type(a.atttypid, a.atttypmod) = $3
                    from pg_catalog.pg_attribute a
                    where a.attrelid = pg_catalog.to_regclass('public.' || $1) and a.attname = $2
                      and not a.attisdropped), false)";
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
