-- Migration 008: SnapTrade beside Plaid and Alpaca (shared/design/migration-008.md), with the design's defects
-- fixed: the provider check admits 'snaptrade'; get_user_portfolio_mode runs and answers only for the caller;
-- the unified view runs with the caller's rights; policies name their role and use (select auth.uid());
-- snaptrade_orders.account_id is a real foreign key; SnapTrade user secrets are not readable by API roles;
-- no uuid-ossp (gen_random_uuid is core since PostgreSQL 13). Re-runnable: every step is guarded.

-- 1. New columns on user_investment_accounts
alter table public.user_investment_accounts
  add column if not exists snaptrade_user_secret text,
  add column if not exists snaptrade_authorization_id uuid,
  add column if not exists brokerage_name text,
  add column if not exists connection_type text default 'read',
  add column if not exists connection_status text default 'active',
  add column if not exists account_mode text default 'plaid';

alter table public.user_investment_accounts
  drop constraint if exists user_investment_accounts_provider_check,
  add constraint user_investment_accounts_provider_check
    check (provider in ('plaid', 'snaptrade', 'alpaca', 'manual')),
  drop constraint if exists user_investment_accounts_connection_type_check,
  add constraint user_investment_accounts_connection_type_check check (connection_type in ('read', 'trade')),
  drop constraint if exists user_investment_accounts_connection_status_check,
  add constraint user_investment_accounts_connection_status_check
    check (connection_status in ('active', 'disabled', 'error')),
  drop constraint if exists user_investment_accounts_account_mode_check,
  add constraint user_investment_accounts_account_mode_check
    check (account_mode in ('plaid', 'snaptrade', 'alpaca', 'manual'));

create index if not exists idx_snaptrade_auth_id on public.user_investment_accounts (snaptrade_authorization_id)
  where snaptrade_authorization_id is not null;
create index if not exists idx_connection_status on public.user_investment_accounts (connection_status);
create index if not exists idx_account_mode on public.user_investment_accounts (account_mode);

-- 2. SnapTrade user registry
create table if not exists public.snaptrade_users (
  id uuid not null default gen_random_uuid(),
  user_id uuid not null,
  snaptrade_user_id text not null,
  -- Sealed (AES-256-GCM, key id inside the value) by the application; never plaintext.
  snaptrade_user_secret text not null,
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  last_sync_at timestamptz,
  constraint snaptrade_users_pkey primary key (id),
  constraint snaptrade_users_user_id_fkey foreign key (user_id) references auth.users (id) on delete cascade,
  constraint snaptrade_users_snaptrade_user_id_key unique (snaptrade_user_id),
  constraint snaptrade_users_user_id_key unique (user_id)
);
create index if not exists idx_snaptrade_users_user_id on public.snaptrade_users (user_id);

-- 3. Brokerage connections and their health
create table if not exists public.snaptrade_brokerage_connections (
  id uuid not null default gen_random_uuid(),
  user_id uuid not null,
  authorization_id uuid not null,
  brokerage_slug text not null,
  brokerage_name text not null,
  connection_type text not null default 'read',
  status text not null default 'active',
  disabled_date timestamptz,
  error_message text,
  accounts_count int default 0,
  last_synced_at timestamptz,
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  constraint snaptrade_brokerage_connections_pkey primary key (id),
  constraint snaptrade_brokerage_connections_user_id_fkey
    foreign key (user_id) references auth.users (id) on delete cascade,
  constraint snaptrade_brokerage_connections_authorization_id_key unique (authorization_id),
  constraint snaptrade_brokerage_connections_connection_type_check check (connection_type in ('read', 'trade')),
  constraint snaptrade_brokerage_connections_status_check check (status in ('active', 'disabled', 'error')),
  constraint snaptrade_brokerage_connections_accounts_count_check check (accounts_count >= 0)
);
create index if not exists idx_snaptrade_connections_user_id on public.snaptrade_brokerage_connections (user_id);
create index if not exists idx_snaptrade_connections_status on public.snaptrade_brokerage_connections (status);

-- 4. Holdings metadata
alter table public.user_aggregated_holdings
  add column if not exists provider_metadata jsonb default '{}'::jsonb,
  add column if not exists universal_symbol_id uuid,
  add column if not exists option_contract jsonb;
create index if not exists idx_universal_symbol_id on public.user_aggregated_holdings (universal_symbol_id)
  where universal_symbol_id is not null;

-- 5. Orders
create table if not exists public.snaptrade_orders (
  id uuid not null default gen_random_uuid(),
  user_id uuid not null,
  account_id uuid not null,
  brokerage_order_id text not null,
  symbol text not null,
  universal_symbol_id uuid,
  action text not null,
  order_type text not null,
  time_in_force text,
  units decimal(15, 6),
  notional_value decimal(15, 2),
  limit_price decimal(15, 6),
  stop_price decimal(15, 6),
  filled_units decimal(15, 6),
  average_fill_price decimal(15, 6),
  status text not null,
  status_message text,
  placed_at timestamptz not null default now(),
  filled_at timestamptz,
  cancelled_at timestamptz,
  updated_at timestamptz default now(),
  raw_order_data jsonb,
  constraint snaptrade_orders_pkey primary key (id),
  constraint snaptrade_orders_user_id_fkey foreign key (user_id) references auth.users (id) on delete cascade,
  -- The design only says so in a comment; a real key keeps orphan orders out.
  constraint snaptrade_orders_account_id_fkey
    foreign key (account_id) references public.user_investment_accounts (id) on delete cascade,
  constraint snaptrade_orders_brokerage_order_id_account_id_key unique (brokerage_order_id, account_id),
  constraint snaptrade_orders_units_check check (units is null or units >= 0),
  constraint snaptrade_orders_filled_units_check check (filled_units is null or filled_units >= 0)
);
create index if not exists idx_snaptrade_orders_user_id on public.snaptrade_orders (user_id);
create index if not exists idx_snaptrade_orders_account_id on public.snaptrade_orders (account_id);
create index if not exists idx_snaptrade_orders_status on public.snaptrade_orders (status);
create index if not exists idx_snaptrade_orders_placed_at on public.snaptrade_orders (placed_at desc);

-- 6. Row-level security on the new tables: owner-only, role named, one permissive policy per action.
alter table public.snaptrade_users enable row level security;
alter table public.snaptrade_brokerage_connections enable row level security;
alter table public.snaptrade_orders enable row level security;

do $$
declare
  t text;
begin
  foreach t in array array['snaptrade_users', 'snaptrade_brokerage_connections', 'snaptrade_orders'] loop
    execute pg_catalog.format('drop policy if exists owner_select on public.%I', t);
    execute pg_catalog.format('drop policy if exists owner_insert on public.%I', t);
    execute pg_catalog.format('drop policy if exists owner_update on public.%I', t);
    execute pg_catalog.format('drop policy if exists owner_delete on public.%I', t);
    execute pg_catalog.format(
      'create policy owner_select on public.%I for select to authenticated using ((select auth.uid()) = user_id)', t);
    execute pg_catalog.format(
      'create policy owner_insert on public.%I for insert to authenticated with check ((select auth.uid()) = user_id)', t);
    execute pg_catalog.format(
      'create policy owner_update on public.%I for update to authenticated '
      'using ((select auth.uid()) = user_id) with check ((select auth.uid()) = user_id)', t);
    execute pg_catalog.format(
      'create policy owner_delete on public.%I for delete to authenticated using ((select auth.uid()) = user_id)', t);
    execute pg_catalog.format('revoke all on public.%I from anon', t);
  end loop;
end
$$;

-- SnapTrade user secrets are for the backend only: column privileges hide them from API roles even on the
-- caller's own row (RLS filters rows, not columns). Table-wide select is replaced by select on the other columns.
revoke select, insert, update on public.snaptrade_users from authenticated;
grant select (id, user_id, snaptrade_user_id, created_at, updated_at, last_sync_at) on public.snaptrade_users
  to authenticated;
revoke select, insert, update on public.user_investment_accounts from authenticated;
grant select (id, user_id, provider, provider_account_id, provider_item_id, institution_id, institution_name,
              account_name, account_type, account_subtype, sync_enabled, last_synced, sync_status,
              sync_error_message, is_active, is_primary, raw_account_data, created_at, updated_at,
              snaptrade_authorization_id, brokerage_name, connection_type, connection_status, account_mode),
      insert (user_id, provider, provider_account_id, provider_item_id, institution_id, institution_name,
              account_name, account_type, account_subtype, sync_enabled, is_active, is_primary, raw_account_data,
              brokerage_name, connection_type, connection_status, account_mode),
      update (account_name, sync_enabled, is_active, is_primary)
  on public.user_investment_accounts to authenticated;

-- 7. Unified accounts, evaluated with the caller's rights so RLS applies (the design's view leaked every row).
create or replace view public.v_unified_investment_accounts with (security_invoker = true) as
select
  uia.id,
  uia.user_id,
  uia.provider,
  uia.provider_account_id,
  uia.institution_name,
  uia.account_name,
  uia.account_type,
  uia.account_subtype,
  uia.is_active,
  uia.account_mode,
  uia.snaptrade_authorization_id,
  uia.brokerage_name,
  uia.connection_type,
  uia.connection_status,
  sbc.status as brokerage_connection_status,
  sbc.last_synced_at as brokerage_last_synced,
  uia.created_at,
  uia.updated_at,
  uia.last_synced
from public.user_investment_accounts uia
left join public.snaptrade_brokerage_connections sbc
  on uia.snaptrade_authorization_id = sbc.authorization_id and sbc.user_id = uia.user_id;
revoke all on public.v_unified_investment_accounts from anon;

-- 8. Portfolio mode. SECURITY INVOKER: RLS already limits a signed-in caller to their own rows, and the explicit
-- check turns "asking about someone else" into an error instead of a misleading 'none'. service_role (BYPASSRLS)
-- and the table owner may ask about anyone, as the backend needs to.
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
declare
  v_alpaca_account_id text;
  v_has_plaid boolean;
  v_has_snaptrade boolean;
  v_count int;
begin
  if current_user in ('anon', 'authenticated')
     and (auth.uid() is null or auth.uid() is distinct from p_user_id) then
    raise exception 'get_user_portfolio_mode: not allowed for user %', p_user_id
      using errcode = '42501';
  end if;

  select o.alpaca_account_id into v_alpaca_account_id
  from public.user_onboarding o
  where o.user_id = p_user_id and o.alpaca_account_id is not null;

  select
    coalesce(bool_or(a.provider = 'plaid'), false),
    coalesce(bool_or(a.provider = 'snaptrade'), false),
    count(*)::int
  into v_has_plaid, v_has_snaptrade, v_count
  from public.user_investment_accounts a
  where a.user_id = p_user_id and a.is_active = true;

  return query select
    case
      when v_alpaca_account_id is not null and (v_has_plaid or v_has_snaptrade) then 'hybrid'
      when v_alpaca_account_id is not null then 'brokerage'
      when v_has_plaid or v_has_snaptrade then 'aggregation'
      else 'none'
    end,
    v_alpaca_account_id is not null,
    v_has_plaid,
    v_has_snaptrade,
    v_alpaca_account_id,
    v_count;
end;
$$;
revoke execute on function public.get_user_portfolio_mode(uuid) from public, anon;
grant execute on function public.get_user_portfolio_mode(uuid) to authenticated, service_role;

-- 9. Comments
comment on table public.snaptrade_users is 'Registry of SnapTrade user credentials (secrets sealed by the application)';
comment on table public.snaptrade_brokerage_connections is 'Brokerage connections via SnapTrade';
comment on table public.snaptrade_orders is 'Order history from SnapTrade executions';
comment on column public.user_investment_accounts.account_mode is 'Provider type: plaid, snaptrade, alpaca or manual';
comment on column public.user_investment_accounts.connection_type is 'read (data only) or trade (data + execution)';

-- 10. updated_at triggers
create or replace trigger update_snaptrade_users_updated_at
  before update on public.snaptrade_users
  for each row execute function public.update_updated_at_column();
create or replace trigger update_snaptrade_connections_updated_at
  before update on public.snaptrade_brokerage_connections
  for each row execute function public.update_updated_at_column();
create or replace trigger update_snaptrade_orders_updated_at
  before update on public.snaptrade_orders
  for each row execute function public.update_updated_at_column();
