-- Performance, measured by `cargo run --release --example bench` (docs/benchmarks.md says what each change moved).
-- Every step is idempotent: re-running the file changes nothing.

-- 1. Indexes every holdings and accounts write paid for and no query needs.
--
-- user_id alone is the leading column of the unique (user_id, symbol) key, which serves every lookup by user
-- (the RLS policies' `user_id = (select auth.uid())` included) at least as well.
drop index if exists public.idx_aggregated_holdings_user_id;
-- The same for accounts: idx_investment_accounts_user_provider (user_id, provider, is_active) leads with user_id,
-- and it also covers get_user_portfolio_mode's aggregate, which the planner preferred to answer through the
-- narrower index plus a heap visit for each account.
drop index if exists public.idx_investment_accounts_user_id;
-- GIN over the whole JSONB of account_contributions and institution_breakdown: every holding written adds each
-- key and value of both documents (a dozen entries or more) to these indexes, the largest part of a row's write
-- cost after the heap itself, and no query of Tributary or of the design filters on them with @>, ? or @?.
-- A service that needs such a search can add a jsonb_path_ops index on the one path it asks about.
drop index if exists public.idx_aggregated_holdings_contributions;
drop index if exists public.idx_aggregated_holdings_institutions;

-- 2. get_user_portfolio_mode in one statement. Same signature, same answers, same refusal: the body ran three
-- statements (onboarding, the accounts aggregate, the result row), each its own executor start; one query does
-- the two lookups as a join of two single-row results. Service callers ask for this on every page view.
create or replace function public.get_user_portfolio_mode(p_user_id uuid)
returns table (
  mode text,
  has_alpaca boolean,
  has_plaid boolean,
  has_snaptrade boolean,
  alpaca_account_id text,
  accounts_count int
)
language plpgsql stable
security invoker
set search_path = ''
as $$
begin
  if current_user in ('anon', 'authenticated')
     and (auth.uid() is null or auth.uid() is distinct from p_user_id) then
    raise exception 'get_user_portfolio_mode: not allowed for user %', p_user_id
      using errcode = '42501';
  end if;

  return query
  select
    case
      when o.alpaca_id is not null and (a.plaid or a.snaptrade) then 'hybrid'
      when o.alpaca_id is not null then 'brokerage'
      when a.plaid or a.snaptrade then 'aggregation'
      else 'none'
    end,
    o.alpaca_id is not null,
    a.plaid,
    a.snaptrade,
    o.alpaca_id,
    a.active
  from (
    select
      coalesce(bool_or(x.provider = 'plaid'), false) as plaid,
      coalesce(bool_or(x.provider = 'snaptrade'), false) as snaptrade,
      count(*)::int as active
    from public.user_investment_accounts x
    where x.user_id = p_user_id and x.is_active = true
  ) a
  left join (
    select u.alpaca_account_id as alpaca_id
    from public.user_onboarding u
    where u.user_id = p_user_id and u.alpaca_account_id is not null
  ) o on true;
end;
$$;
revoke execute on function public.get_user_portfolio_mode(uuid) from public, anon;
grant execute on function public.get_user_portfolio_mode(uuid) to authenticated, service_role;
