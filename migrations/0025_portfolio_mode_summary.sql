-- 0025: a user's portfolio mode from one row the database keeps, read by primary key.
--
-- get_user_portfolio_mode aggregated the user's active accounts and joined their onboarding row on every call,
-- inside a PL/pgSQL function: 1.5 × a point select. The facts it needs now live in one row per user, kept by the
-- database on every write to user_investment_accounts and user_onboarding, and the decision is made once, by
-- public.decide_portfolio_mode, stored in the row's generated `mode` column. The function and PgStore both read
-- that row by its primary key; neither decides anything.
--
-- The triggers are statement-level with transition tables, so a sync writing 50 accounts of a user costs one
-- upsert of that user's row, not 50. They apply *differences* (this statement added one active Plaid account,
-- removed two active ones...) rather than recounting: an increment under the row's lock is right whatever the
-- interleaving, while a recount in READ COMMITTED reads a snapshot that misses a concurrent sync's uncommitted
-- accounts and would overwrite its count when both commit. The counts' check constraints turn any drift into an
-- error instead of a wrong mode.
-- Re-runnable: every step finds its object and leaves it as it is; the back-fill recomputes every row.

-- 1. The one definition of the decision. Immutable, so the generated column may call it and the planner folds a
-- call with constant arguments once per plan (the readers' "no row" case below).
create or replace function public.decide_portfolio_mode(
  p_has_alpaca boolean,
  p_has_plaid boolean,
  p_has_snaptrade boolean
) returns text
language sql immutable
set search_path = ''
as $$
  select case
    when p_has_alpaca and (p_has_plaid or p_has_snaptrade) then 'hybrid'
    when p_has_alpaca then 'brokerage'
    when p_has_plaid or p_has_snaptrade then 'aggregation'
    else 'none'
  end
$$;
revoke execute on function public.decide_portfolio_mode(boolean, boolean, boolean) from public, anon;
grant execute on function public.decide_portfolio_mode(boolean, boolean, boolean) to authenticated, service_role;

-- 2. The summary. A user with no row has no active account and no Alpaca account: the readers read the
-- decision's answer for that (all false) rather than a copy of it.
create table if not exists public.user_portfolio_summary (
  user_id uuid not null,
  -- user_onboarding.alpaca_account_id, null when none is linked.
  alpaca_account_id text,
  -- Active (is_active = true) accounts: Plaid's, SnapTrade's, and of every provider.
  plaid_accounts integer not null default 0,
  snaptrade_accounts integer not null default 0,
  accounts_count integer not null default 0,
  has_alpaca boolean generated always as (alpaca_account_id is not null) stored,
  has_plaid boolean generated always as (plaid_accounts > 0) stored,
  has_snaptrade boolean generated always as (snaptrade_accounts > 0) stored,
  mode text generated always as (
    public.decide_portfolio_mode(alpaca_account_id is not null, plaid_accounts > 0, snaptrade_accounts > 0)
  ) stored,
  constraint user_portfolio_summary_pkey primary key (user_id),
  constraint user_portfolio_summary_user_id_fkey foreign key (user_id) references auth.users (id) on delete cascade,
  constraint user_portfolio_summary_plaid_accounts_check check (plaid_accounts >= 0),
  constraint user_portfolio_summary_snaptrade_accounts_check check (snaptrade_accounts >= 0),
  constraint user_portfolio_summary_accounts_count_check
    check (accounts_count >= plaid_accounts + snaptrade_accounts)
);

-- 3. Accounts: one difference per user touched by the statement. SECURITY DEFINER: the summary takes no write from
-- any API or backend role; only these triggers write it (they read auth.users too, which service_role cannot).
-- A user no longer in auth.users is being deleted (the cascade removes their rows table by table): no row back.
create or replace function public.summarise_accounts() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_users uuid[];
  v_plaid integer[];
  v_snaptrade integer[];
  v_count integer[];
begin
  if tg_op = 'TRUNCATE' then
    update public.user_portfolio_summary s
      set plaid_accounts = 0, snaptrade_accounts = 0, accounts_count = 0
    where s.accounts_count <> 0;
    return null;
  end if;
  -- One query per event sums the differences by user: a transition table exists only for the events it was
  -- declared for, so each event names its own (an unchanged upsert costs this one query and no write).
  if tg_op = 'INSERT' then
    select pg_catalog.array_agg(d.user_id order by d.user_id), pg_catalog.array_agg(d.plaid order by d.user_id),
           pg_catalog.array_agg(d.snaptrade order by d.user_id), pg_catalog.array_agg(d.active order by d.user_id)
      into v_users, v_plaid, v_snaptrade, v_count
    from (
      select n.user_id,
             (pg_catalog.count(*) filter (where n.is_active is true and n.provider = 'plaid'))::integer as plaid,
             (pg_catalog.count(*) filter (where n.is_active is true and n.provider = 'snaptrade'))::integer
               as snaptrade,
             (pg_catalog.count(*) filter (where n.is_active is true))::integer as active
      from new_accounts n
      group by n.user_id
    ) d
    where d.active <> 0;
  elsif tg_op = 'DELETE' then
    select pg_catalog.array_agg(d.user_id order by d.user_id), pg_catalog.array_agg(d.plaid order by d.user_id),
           pg_catalog.array_agg(d.snaptrade order by d.user_id), pg_catalog.array_agg(d.active order by d.user_id)
      into v_users, v_plaid, v_snaptrade, v_count
    from (
      select o.user_id,
             (-pg_catalog.count(*) filter (where o.is_active is true and o.provider = 'plaid'))::integer as plaid,
             (-pg_catalog.count(*) filter (where o.is_active is true and o.provider = 'snaptrade'))::integer
               as snaptrade,
             (-pg_catalog.count(*) filter (where o.is_active is true))::integer as active
      from old_accounts o
      group by o.user_id
    ) d
    where d.active <> 0;
  else
    select pg_catalog.array_agg(d.user_id order by d.user_id), pg_catalog.array_agg(d.plaid order by d.user_id),
           pg_catalog.array_agg(d.snaptrade order by d.user_id), pg_catalog.array_agg(d.active order by d.user_id)
      into v_users, v_plaid, v_snaptrade, v_count
    from (
      select r.user_id,
             coalesce(pg_catalog.sum(r.sign) filter (where r.provider = 'plaid'), 0)::integer as plaid,
             coalesce(pg_catalog.sum(r.sign) filter (where r.provider = 'snaptrade'), 0)::integer as snaptrade,
             pg_catalog.sum(r.sign)::integer as active
      from (
        select n.user_id, n.provider, 1 as sign from new_accounts n where n.is_active is true
        union all
        select o.user_id, o.provider, -1 from old_accounts o where o.is_active is true
      ) r
      group by r.user_id
    ) d
    where d.active <> 0 or d.plaid <> 0 or d.snaptrade <> 0;
  end if;
  if v_users is null then
    return null;
  end if;
  -- Users with a row: add the differences. A check constraint is tested on the row an INSERT proposes before
  -- ON CONFLICT looks for the existing one, so a negative difference cannot go through an upsert.
  update public.user_portfolio_summary s
    set plaid_accounts = s.plaid_accounts + d.plaid,
        snaptrade_accounts = s.snaptrade_accounts + d.snaptrade,
        accounts_count = s.accounts_count + d.active
  from unnest(v_users, v_plaid, v_snaptrade, v_count) as d(user_id, plaid, snaptrade, active)
  where s.user_id = d.user_id;
  -- Users without one (a first account). A concurrent statement may create the row first: then ON CONFLICT
  -- waits for it and adds this difference to it. A negative difference here is a count gone wrong: the check
  -- refuses it, and the write with it.
  insert into public.user_portfolio_summary as s (user_id, plaid_accounts, snaptrade_accounts, accounts_count)
  select d.user_id, d.plaid, d.snaptrade, d.active
  from unnest(v_users, v_plaid, v_snaptrade, v_count) with ordinality as d(user_id, plaid, snaptrade, active, i)
  where not exists (select 1 from public.user_portfolio_summary x where x.user_id = d.user_id)
    and exists (select 1 from auth.users u where u.id = d.user_id)
  order by d.i
  on conflict (user_id) do update set
    plaid_accounts = s.plaid_accounts + excluded.plaid_accounts,
    snaptrade_accounts = s.snaptrade_accounts + excluded.snaptrade_accounts,
    accounts_count = s.accounts_count + excluded.accounts_count;
  return null;
end;
$$;
revoke all on function public.summarise_accounts() from public, anon, authenticated, service_role;

-- Transition tables admit one event per trigger and no column list, hence three (and TRUNCATE, which has none).
drop trigger if exists summarise_accounts_inserted on public.user_investment_accounts;
create trigger summarise_accounts_inserted
  after insert on public.user_investment_accounts
  referencing new table as new_accounts
  for each statement execute function public.summarise_accounts();
drop trigger if exists summarise_accounts_updated on public.user_investment_accounts;
create trigger summarise_accounts_updated
  after update on public.user_investment_accounts
  referencing old table as old_accounts new table as new_accounts
  for each statement execute function public.summarise_accounts();
drop trigger if exists summarise_accounts_deleted on public.user_investment_accounts;
create trigger summarise_accounts_deleted
  after delete on public.user_investment_accounts
  referencing old table as old_accounts
  for each statement execute function public.summarise_accounts();
drop trigger if exists summarise_accounts_truncated on public.user_investment_accounts;
create trigger summarise_accounts_truncated
  after truncate on public.user_investment_accounts
  for each statement execute function public.summarise_accounts();

-- 4. Onboarding: user_id is unique there, so a user's Alpaca account id is the one in their new row, or none when
-- the statement removed (or moved away) their row. Writes to one user's row are serialised by its row lock.
create or replace function public.summarise_onboarding() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid[];
  v_alpaca text[];
begin
  if tg_op = 'TRUNCATE' then
    update public.user_portfolio_summary s set alpaca_account_id = null where s.alpaca_account_id is not null;
    return null;
  end if;
  -- A transition table exists only for the events it was declared for, so each event names its own.
  if tg_op = 'INSERT' then
    select pg_catalog.array_agg(n.user_id), pg_catalog.array_agg(n.alpaca_account_id)
      into v_user, v_alpaca
    from new_onboarding n;
  elsif tg_op = 'DELETE' then
    select pg_catalog.array_agg(o.user_id), pg_catalog.array_agg(null::text)
      into v_user, v_alpaca
    from old_onboarding o;
  else
    -- A row moved to another user leaves its old user without one.
    select pg_catalog.array_agg(r.user_id), pg_catalog.array_agg(r.alpaca_account_id)
      into v_user, v_alpaca
    from (
      select n.user_id, n.alpaca_account_id from new_onboarding n
      union all
      select o.user_id, null from old_onboarding o
      where not exists (select 1 from new_onboarding n where n.user_id = o.user_id)
    ) r;
  end if;
  insert into public.user_portfolio_summary as s (user_id, alpaca_account_id)
  select t.user_id, t.alpaca_account_id
  from unnest(v_user, v_alpaca) as t(user_id, alpaca_account_id)
  where exists (select 1 from auth.users u where u.id = t.user_id)
  order by t.user_id
  on conflict (user_id) do update set alpaca_account_id = excluded.alpaca_account_id
  where s.alpaca_account_id is distinct from excluded.alpaca_account_id;
  return null;
end;
$$;
revoke all on function public.summarise_onboarding() from public, anon, authenticated, service_role;

drop trigger if exists summarise_onboarding_inserted on public.user_onboarding;
create trigger summarise_onboarding_inserted
  after insert on public.user_onboarding
  referencing new table as new_onboarding
  for each statement execute function public.summarise_onboarding();
drop trigger if exists summarise_onboarding_updated on public.user_onboarding;
create trigger summarise_onboarding_updated
  after update on public.user_onboarding
  referencing old table as old_onboarding new table as new_onboarding
  for each statement execute function public.summarise_onboarding();
drop trigger if exists summarise_onboarding_deleted on public.user_onboarding;
create trigger summarise_onboarding_deleted
  after delete on public.user_onboarding
  referencing old table as old_onboarding
  for each statement execute function public.summarise_onboarding();
drop trigger if exists summarise_onboarding_truncated on public.user_onboarding;
create trigger summarise_onboarding_truncated
  after truncate on public.user_onboarding
  for each statement execute function public.summarise_onboarding();

-- 5. Back-fill (and, on a re-run, repair) every user's row from the base tables. Creating the triggers above took
-- SHARE ROW EXCLUSIVE on both tables until this migration commits, so no write slips between count and triggers.
insert into public.user_portfolio_summary as s
  (user_id, alpaca_account_id, plaid_accounts, snaptrade_accounts, accounts_count)
select u.user_id,
       (select o.alpaca_account_id from public.user_onboarding o where o.user_id = u.user_id),
       (select count(*) from public.user_investment_accounts a
        where a.user_id = u.user_id and a.is_active = true and a.provider = 'plaid')::integer,
       (select count(*) from public.user_investment_accounts a
        where a.user_id = u.user_id and a.is_active = true and a.provider = 'snaptrade')::integer,
       (select count(*) from public.user_investment_accounts a
        where a.user_id = u.user_id and a.is_active = true)::integer
from (
  select a.user_id from public.user_investment_accounts a
  union
  select o.user_id from public.user_onboarding o
) u
on conflict (user_id) do update set
  alpaca_account_id = excluded.alpaca_account_id,
  plaid_accounts = excluded.plaid_accounts,
  snaptrade_accounts = excluded.snaptrade_accounts,
  accounts_count = excluded.accounts_count
where (s.alpaca_account_id, s.plaid_accounts, s.snaptrade_accounts, s.accounts_count)
  is distinct from (excluded.alpaca_account_id, excluded.plaid_accounts, excluded.snaptrade_accounts,
                    excluded.accounts_count);

-- 6. Reading it. A signed-in user may read their own row (it holds nothing their accounts and onboarding rows
-- do not already show them) and write none. The backend keeps the rights it has on every table (0023 alike),
-- for repairs such as this file's back-fill; the service's code never writes the row, the triggers do.
alter table public.user_portfolio_summary enable row level security;
revoke all on public.user_portfolio_summary from public, anon, authenticated, service_role;
grant select on public.user_portfolio_summary to authenticated;
grant select, insert, update, delete on public.user_portfolio_summary to service_role;
drop policy if exists "Users read their own portfolio summary" on public.user_portfolio_summary;
create policy "Users read their own portfolio summary" on public.user_portfolio_summary
  for select to authenticated using (user_id = (select auth.uid()));

-- 7. get_user_portfolio_mode: same signature, same answers, same refusal; now one primary-key read of the row.
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
  select coalesce(s.mode, public.decide_portfolio_mode(false, false, false)),
         coalesce(s.has_alpaca, false),
         coalesce(s.has_plaid, false),
         coalesce(s.has_snaptrade, false),
         s.alpaca_account_id,
         coalesce(s.accounts_count, 0)
  from (select p_user_id as user_id) k
  left join public.user_portfolio_summary s on s.user_id = k.user_id;
end;
$$;
revoke execute on function public.get_user_portfolio_mode(uuid) from public, anon;
grant execute on function public.get_user_portfolio_mode(uuid) to authenticated, service_role;

comment on table public.user_portfolio_summary is
  'Per user: the facts get_user_portfolio_mode needs and the decided mode; kept by statement triggers';
comment on function public.decide_portfolio_mode(boolean, boolean, boolean) is
  'The portfolio mode of a user with these facts: the one definition, stored in user_portfolio_summary.mode';
