-- 0023: which users are due for a sync, answered by one index scan.
--
-- A scheduler asks, every few minutes, for the users whose last successful sync is older than some age, oldest
-- first. The facts it needs live in five tables (an Item's health and last sync, a SnapTrade user's last sync and
-- its connections' health, an Alpaca link and its account's last sync), so asking them on every round would read
-- every user's rows. Instead each user with a link has one row here, kept current by triggers on those tables:
--   * `syncable`: the user has at least one connection a sync can use:
--       - a Plaid Item whose status is healthy, pending_expiration or pending_disconnect (the token still works;
--         login_required, revoked or any other state needs the user first),
--       - a SnapTrade user with no brokerage connection yet (the first sync finds them) or at least one connection
--         whose status is active (disabled and error need the reconnect portal),
--       - an Alpaca account linked in user_onboarding.alpaca_account_id.
--   * `last_synced_at`: the stalest of those usable links' last successful syncs (plaid_items.last_synced_at,
--     snaptrade_users.last_sync_at, the Alpaca account's user_investment_accounts.last_synced); null when one of
--     them has never synced. Each is written only by a sync that succeeded for that provider, so a failed sync
--     leaves the user due, and a broken link never holds a user back (nor makes one due) for ever.
-- The partial index orders the syncable users by that time, never-synced (null, indexed as -infinity) first, so
-- "due before T" is one range of it, read from its start and stopped at T or at the limit.
-- Re-runnable: every step finds its object and leaves it as it is.

create table if not exists public.user_sync_schedule (
  user_id uuid not null,
  syncable boolean not null,
  last_synced_at timestamptz,
  updated_at timestamptz not null default now(),
  constraint user_sync_schedule_pkey primary key (user_id),
  constraint user_sync_schedule_user_id_fkey foreign key (user_id) references auth.users (id) on delete cascade
);

create index if not exists idx_user_sync_schedule_due
  on public.user_sync_schedule ((coalesce(last_synced_at, '-infinity'::timestamptz)), user_id) where syncable;

-- Recomputes the row of each user a change touched. SECURITY DEFINER: the backend's writes to the five tables go
-- through it whatever role makes them (service_role has no grant on auth.users, which it reads), and the API roles
-- can write none of the columns it watches (0013), so they never reach it. It can only run as a trigger.
create or replace function public.schedule_user_sync() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid;
  v_syncable boolean;
  v_last timestamptz;
  v_never boolean;
begin
  if tg_op = 'DELETE' then
    v_user := old.user_id;
  else
    v_user := new.user_id;
  end if;
  -- A user being deleted (auth.users' cascade removes their rows one table at a time) gets no row back.
  if not exists (select 1 from auth.users u where u.id = v_user) then
    delete from public.user_sync_schedule s where s.user_id = v_user;
    return null;
  end if;
  with links (last_synced, usable) as (
    select i.last_synced_at, i.status in ('healthy', 'pending_expiration', 'pending_disconnect')
    from public.plaid_items i where i.user_id = v_user
    union all
    select su.last_sync_at,
           not exists (select 1 from public.snaptrade_brokerage_connections c where c.user_id = v_user)
           or exists (select 1 from public.snaptrade_brokerage_connections c
                      where c.user_id = v_user and c.status = 'active')
    from public.snaptrade_users su where su.user_id = v_user
    union all
    select (select pg_catalog.max(a.last_synced) from public.user_investment_accounts a
            where a.user_id = v_user and a.provider = 'alpaca' and a.provider_account_id = o.alpaca_account_id),
           true
    from public.user_onboarding o where o.user_id = v_user and o.alpaca_account_id is not null
  )
  select pg_catalog.bool_or(usable),
         pg_catalog.min(last_synced) filter (where usable),
         coalesce(pg_catalog.bool_or(usable and last_synced is null), false)
    into v_syncable, v_last, v_never
  from links;
  if v_syncable is null then
    delete from public.user_sync_schedule s where s.user_id = v_user;
    return null;
  end if;
  if v_never then
    v_last := null;
  end if;
  insert into public.user_sync_schedule as s (user_id, syncable, last_synced_at)
  values (v_user, v_syncable, v_last)
  on conflict (user_id) do update set syncable = excluded.syncable, last_synced_at = excluded.last_synced_at,
    updated_at = pg_catalog.now()
  where (s.syncable, s.last_synced_at) is distinct from (excluded.syncable, excluded.last_synced_at);
  return null;
end;
$$;
revoke all on function public.schedule_user_sync() from public, anon, authenticated;

drop trigger if exists schedule_user_sync on public.plaid_items;
create trigger schedule_user_sync
  after insert or delete or update of status, last_synced_at, user_id on public.plaid_items
  for each row execute function public.schedule_user_sync();

drop trigger if exists schedule_user_sync on public.snaptrade_users;
create trigger schedule_user_sync
  after insert or delete or update of last_sync_at, user_id on public.snaptrade_users
  for each row execute function public.schedule_user_sync();

drop trigger if exists schedule_user_sync on public.snaptrade_brokerage_connections;
create trigger schedule_user_sync
  after insert or delete or update of status, user_id on public.snaptrade_brokerage_connections
  for each row execute function public.schedule_user_sync();

drop trigger if exists schedule_user_sync on public.user_onboarding;
create trigger schedule_user_sync
  after insert or delete or update of alpaca_account_id, user_id on public.user_onboarding
  for each row execute function public.schedule_user_sync();

-- Only Alpaca's account rows count (the other providers' last syncs are on their links), and only the columns the
-- API roles cannot update: a user changing their own account's preferences never runs this.
drop trigger if exists schedule_user_sync on public.user_investment_accounts;
create trigger schedule_user_sync
  after insert or update of last_synced, provider_account_id on public.user_investment_accounts
  for each row when (new.provider = 'alpaca') execute function public.schedule_user_sync();
drop trigger if exists schedule_user_sync_removed on public.user_investment_accounts;
create trigger schedule_user_sync_removed
  after delete on public.user_investment_accounts
  for each row when (old.provider = 'alpaca') execute function public.schedule_user_sync();

-- The users linked before this migration: each one's row, computed by the same function (a no-op update fires it).
update public.user_onboarding set alpaca_account_id = alpaca_account_id where alpaca_account_id is not null;
update public.snaptrade_users set last_sync_at = last_sync_at;
update public.plaid_items set status = status;

-- Backend only, as the webhook inbox (0014): RLS on with no policy, nothing granted to the API roles. The
-- schedule is the service's bookkeeping; a user's health and last sync are on their own rows already.
alter table public.user_sync_schedule enable row level security;
revoke all on public.user_sync_schedule from anon, authenticated;
grant select, insert, update, delete on public.user_sync_schedule to service_role;

comment on table public.user_sync_schedule is
  'Per linked user: whether a connection can sync and the stalest usable link''s last sync; kept by triggers';
