-- 0013: trust boundaries. Re-runnable: every step finds its object as it leaves it and changes nothing.
--
-- The sync engine trusts these rows: an Alpaca account row names the account an order is sent to with the
-- partner-wide key, a connection row says whether an account may trade, a digest vouches for a holding. So they
-- are written by the backend only (the table owner, or service_role), never through the Data API. A signed-in
-- user reads their own rows and may change three preferences of their own accounts (account_name, sync_enabled,
-- is_primary). This deviates from the design's policies, which let the owner insert, update and delete.
--
-- Keys carry their owner: every foreign key between user-owned tables includes user_id, and every unique key a
-- provider supplies is scoped by user_id, so one user's row can never block or capture another's. That is also
-- the rule a sharded deployment needs (Citus distributes by user_id and co-locates only keys that include it).

-- 1. Keys carry their owner.

-- Orders reference (account, user): an order can only hang off an account of the same user. The old key on
-- account_id alone would accept another user's account.
do $$
begin
  if not exists (select 1 from pg_catalog.pg_constraint
                 where conrelid = 'public.user_investment_accounts'::regclass
                   and conname = 'user_investment_accounts_id_user_id_key') then
    alter table public.user_investment_accounts
      add constraint user_investment_accounts_id_user_id_key unique (id, user_id);
  end if;
  if not exists (select 1 from pg_catalog.pg_constraint
                 where conrelid = 'public.snaptrade_orders'::regclass
                   and conname = 'snaptrade_orders_account_id_user_id_fkey') then
    alter table public.snaptrade_orders
      add constraint snaptrade_orders_account_id_user_id_fkey foreign key (account_id, user_id)
        references public.user_investment_accounts (id, user_id) on delete cascade;
  end if;
  if exists (select 1 from pg_catalog.pg_constraint
             where conrelid = 'public.snaptrade_orders'::regclass and conname = 'snaptrade_orders_account_id_fkey') then
    alter table public.snaptrade_orders drop constraint snaptrade_orders_account_id_fkey;
  end if;

  -- The brokerage's order id, unique per user and account (was: per account, whoever's it was).
  if not exists (select 1 from pg_catalog.pg_constraint
                 where conrelid = 'public.snaptrade_orders'::regclass
                   and conname = 'snaptrade_orders_user_id_account_id_brokerage_order_id_key') then
    alter table public.snaptrade_orders
      add constraint snaptrade_orders_user_id_account_id_brokerage_order_id_key
        unique (user_id, account_id, brokerage_order_id);
  end if;
  if exists (select 1 from pg_catalog.pg_constraint
             where conrelid = 'public.snaptrade_orders'::regclass
               and conname = 'snaptrade_orders_brokerage_order_id_account_id_key') then
    alter table public.snaptrade_orders drop constraint snaptrade_orders_brokerage_order_id_account_id_key;
  end if;

  -- SnapTrade's authorization id, unique per user (was: across users, so a row of one user blocked another's).
  if not exists (select 1 from pg_catalog.pg_constraint
                 where conrelid = 'public.snaptrade_brokerage_connections'::regclass
                   and conname = 'snaptrade_brokerage_connections_user_id_authorization_id_key') then
    alter table public.snaptrade_brokerage_connections
      add constraint snaptrade_brokerage_connections_user_id_authorization_id_key unique (user_id, authorization_id);
  end if;
  if exists (select 1 from pg_catalog.pg_constraint
             where conrelid = 'public.snaptrade_brokerage_connections'::regclass
               and conname = 'snaptrade_brokerage_connections_authorization_id_key') then
    alter table public.snaptrade_brokerage_connections
      drop constraint snaptrade_brokerage_connections_authorization_id_key;
  end if;

  -- The SnapTrade user id: snaptrade_users_user_id_key (one registration per user) already scopes it, so the
  -- global key on snaptrade_user_id alone, which let one user's row block another's registration, goes.
  if exists (select 1 from pg_catalog.pg_constraint
             where conrelid = 'public.snaptrade_users'::regclass and conname = 'snaptrade_users_snaptrade_user_id_key') then
    alter table public.snaptrade_users drop constraint snaptrade_users_snaptrade_user_id_key;
  end if;
end
$$;

-- The provider account id is scoped already: user_investment_accounts_provider_provider_account_id_user__key is
-- (provider, provider_account_id, user_id). Holdings are keyed (user_id, symbol), onboarding by user_id.

-- 2. Backend-only writes.

-- The earlier migrations' owner write policies go; the owner select policies stay. (0002 and 0008 create them
-- again when they are re-run with psql; this file, run after them, drops them again.)
do $$
declare
  t text;
begin
  foreach t in array array['user_investment_accounts', 'user_aggregated_holdings', 'user_onboarding',
                           'snaptrade_users', 'snaptrade_brokerage_connections', 'snaptrade_orders'] loop
    execute pg_catalog.format('drop policy if exists owner_insert on public.%I', t);
    execute pg_catalog.format('drop policy if exists owner_update on public.%I', t);
    execute pg_catalog.format('drop policy if exists owner_delete on public.%I', t);
    -- A table-level revoke also revokes the column-level grants of the same kind (0008's on accounts).
    execute pg_catalog.format(
      'revoke insert, update, delete, truncate, references, trigger on public.%I from authenticated', t);
    execute pg_catalog.format('revoke all on public.%I from anon', t);
  end loop;
end
$$;

-- The one write a signed-in user keeps: their own accounts' preferences. Column privileges say which columns,
-- the policy says which rows (before and after the change).
grant update (account_name, sync_enabled, is_primary) on public.user_investment_accounts to authenticated;
drop policy if exists owner_update_preferences on public.user_investment_accounts;
create policy owner_update_preferences on public.user_investment_accounts for update to authenticated
  using ((select auth.uid()) = user_id) with check ((select auth.uid()) = user_id);

-- The view reads with the caller's rights and takes no writes; no API role needs anything but select on it.
revoke insert, update, delete, truncate, references, trigger on public.v_unified_investment_accounts
  from anon, authenticated;

-- Supabase's default grants give anon and authenticated every privilege on every table in public, TRUNCATE
-- (which RLS does not filter), TRIGGER and REFERENCES included. None of the three is for an API role: revoke
-- them on every table and view in public, and in the default privileges so a future table does not get them.
do $$
declare
  r record;
begin
  for r in select c.oid::pg_catalog.regclass as relation
           from pg_catalog.pg_class c
           where c.relnamespace = 'public'::pg_catalog.regnamespace and c.relkind in ('r', 'p', 'v', 'm', 'f')
  loop
    execute pg_catalog.format('revoke truncate, references, trigger on %s from anon, authenticated', r.relation);
  end loop;
end
$$;
alter default privileges in schema public revoke truncate, references, trigger on tables from anon, authenticated;

-- sqlx's migration history sits in public when the migrations are applied with sqlx; on Supabase the default
-- grants make it writable by anon. It is nobody's business but the migrator's.
do $$
begin
  if pg_catalog.to_regclass('public._sqlx_migrations') is not null then
    revoke all on public._sqlx_migrations from anon, authenticated;
  end if;
end
$$;

-- A trigger function is only ever run by its trigger; nobody needs to call it.
revoke execute on function public.update_updated_at_column() from public, anon, authenticated;
