-- 0018: every holding says which currency its money is in, and a symbol held in two currencies is two rows.
--
-- Before this, a holding's money columns had no currency: a security Plaid prices in BTC
-- (`unofficial_currency_code`) was summed into total_market_value beside dollars, and BTC held at a Canadian
-- brokerage in CAD and at an American one in USD became one row whose total mixed both. Now:
--   * `currency` is the code of the currency every money figure of the row is in (ISO 4217, or a provider's code
--     outside it such as BTC); NULL when the provider named none, never assumed to be USD.
--   * The key is (user_id, symbol, currency), NULLs not distinct, so one symbol in two currencies is two rows and
--     an unknown currency is one row of its own.
--   * public.v_portfolio_totals sums each user's holdings per currency: the figures a dashboard shows, never
--     added across currencies.
-- Rows written before this have NULL: the next sync rewrites them with their currency. Re-runnable.

alter table public.user_aggregated_holdings add column if not exists currency text;

comment on column public.user_aggregated_holdings.currency is
  'Currency of every money figure in the row (ISO 4217 or a provider''s code such as BTC); null when the provider named none.';

do $$
begin
  if not exists (select 1 from pg_catalog.pg_constraint
                 where conrelid = 'public.user_aggregated_holdings'::pg_catalog.regclass
                   and conname = 'user_aggregated_holdings_currency_check') then
    alter table public.user_aggregated_holdings add constraint user_aggregated_holdings_currency_check
      check (currency ~ '^[A-Z0-9]{2,12}$');
  end if;

  if not exists (select 1 from pg_catalog.pg_constraint
                 where conrelid = 'public.user_aggregated_holdings'::pg_catalog.regclass
                   and conname = 'user_aggregated_holdings_user_id_symbol_currency_key') then
    alter table public.user_aggregated_holdings add constraint user_aggregated_holdings_user_id_symbol_currency_key
      unique nulls not distinct (user_id, symbol, currency);
  end if;

  -- The new key serves every lookup the old one did (user_id, then symbol, lead both).
  if exists (select 1 from pg_catalog.pg_constraint
             where conrelid = 'public.user_aggregated_holdings'::pg_catalog.regclass
               and conname = 'user_aggregated_holdings_user_id_symbol_key') then
    alter table public.user_aggregated_holdings drop constraint user_aggregated_holdings_user_id_symbol_key;
  end if;
end
$$;

-- A user's holdings summed per currency. Evaluated with the caller's rights, so RLS limits a signed-in user to
-- their own rows; a user with no holdings has no rows. Holdings with no currency are summed in the NULL row.
create or replace view public.v_portfolio_totals with (security_invoker = true) as
select
  h.user_id,
  h.currency,
  pg_catalog.sum(h.total_market_value) as total_market_value,
  pg_catalog.sum(h.total_cost_basis) as total_cost_basis,
  pg_catalog.sum(h.unrealized_gain_loss) as unrealized_gain_loss,
  pg_catalog.count(*)::integer as holding_count
from public.user_aggregated_holdings h
group by h.user_id, h.currency;

comment on view public.v_portfolio_totals is
  'Each user''s holdings summed per currency; figures in different currencies are never added together.';

-- Read-only for the API roles, as every view here (0013): no anon access, select for signed-in users.
revoke all on public.v_portfolio_totals from anon;
revoke insert, update, delete, truncate, references, trigger on public.v_portfolio_totals from authenticated;
grant select on public.v_portfolio_totals to authenticated;
