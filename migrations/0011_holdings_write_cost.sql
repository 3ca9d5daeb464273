-- The holdings write cost, measured by `cargo run --release --example bench` (docs/benchmarks.md, "What moved the
-- numbers"). Idempotent: re-running the file changes nothing.
--
-- Three more of the origin's holdings indexes that every write pays for and no query needs. Each leads with
-- user_id, and a user holds tens to hundreds of rows: the unique (user_id, symbol) key finds them all in one
-- short range scan, and sorting that many by value, recency or type in memory costs less than one of these
-- indexes costs on every insert. Together they were a quarter of a COPY's time per row (200,000 rows: 11.6 s
-- with them, 8.4 s without). Because two of them index columns a re-sync changes (updated_at,
-- total_market_value), they also ruled out heap-only updates: every changed price rewrote an entry in each of
-- the table's indexes. Tributary's own reads go through (user_id, symbol); a dashboard that pages through a
-- very large portfolio by value can add back the one it needs.
drop index if exists public.idx_aggregated_holdings_user_updated;
drop index if exists public.idx_aggregated_holdings_value;
drop index if exists public.idx_aggregated_holdings_type;
