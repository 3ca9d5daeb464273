-- 0016: a holding's percentages fit whatever its money columns hold. The gain percent is the gain over the cost
-- basis: with money in numeric(20, 2) (below 10^18) and the smallest cost basis one cent, it stays below 10^22 %,
-- which numeric(10, 4) cannot hold: Plaid's own example holding (cost basis 0.01, value 110, a gain of
-- 1,099,900 %) failed the user's whole sync. Widened to numeric(26, 4), every percent the money columns can produce
-- fits, so none is stored as NULL, clamped or refused. Re-runnable: a column already this wide is left as it is.

do $$
begin
  if pg_catalog.format_type('numeric'::pg_catalog.regtype, (
       select atttypmod from pg_catalog.pg_attribute
       where attrelid = 'public.user_aggregated_holdings'::pg_catalog.regclass
         and attname = 'unrealized_gain_loss_percent')) <> 'numeric(26,4)' then
    alter table public.user_aggregated_holdings
      alter column unrealized_gain_loss_percent type numeric(26, 4);
  end if;
  if pg_catalog.format_type('numeric'::pg_catalog.regtype, (
       select atttypmod from pg_catalog.pg_attribute
       where attrelid = 'public.user_aggregated_holdings'::pg_catalog.regclass
         and attname = 'day_change_percent')) <> 'numeric(26,4)' then
    alter table public.user_aggregated_holdings
      alter column day_change_percent type numeric(26, 4);
  end if;
end
$$;
