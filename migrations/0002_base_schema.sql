-- The schema migration 0008 extends (the origin backend's 001, 002 and 006), minus its known bugs:
-- holdings carry `updated_at` (the origin's trigger wrote a column that did not exist, failing every UPDATE), and
-- no SECURITY DEFINER function deletes another user's holdings.

create or replace function public.update_updated_at_column() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at = pg_catalog.now();
  return new;
end;
$$;

create table if not exists public.user_investment_accounts (
  id uuid not null default gen_random_uuid(),
  user_id uuid not null,
  provider text not null,
  provider_account_id text not null,
  provider_item_id text,
  institution_id text,
  institution_name text not null,
  account_name text,
  account_type text not null,
  account_subtype text,
  access_token_encrypted text,
  sync_enabled boolean default true,
  last_synced timestamptz,
  sync_status text default 'pending',
  sync_error_message text,
  is_active boolean default true,
  is_primary boolean default false,
  raw_account_data jsonb default '{}'::jsonb,
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  constraint user_investment_accounts_pkey primary key (id),
  constraint user_investment_accounts_user_id_fkey foreign key (user_id) references auth.users (id) on delete cascade,
  constraint user_investment_accounts_provider_check check (provider in ('plaid', 'alpaca', 'manual')),
  constraint user_investment_accounts_institution_name_check check (length(institution_name) > 0),
  constraint user_investment_accounts_sync_status_check
    check (sync_status in ('pending', 'syncing', 'success', 'error', 'disabled')),
  constraint user_investment_accounts_provider_provider_account_id_user__key
    unique (provider, provider_account_id, user_id)
);

create index if not exists idx_investment_accounts_user_id on public.user_investment_accounts (user_id);
create index if not exists idx_investment_accounts_user_provider
  on public.user_investment_accounts (user_id, provider, is_active);
create index if not exists idx_investment_accounts_sync_status
  on public.user_investment_accounts (sync_status, last_synced) where sync_enabled = true;
create index if not exists idx_investment_accounts_institution on public.user_investment_accounts (institution_name);

create or replace trigger update_investment_accounts_updated_at
  before update on public.user_investment_accounts
  for each row execute function public.update_updated_at_column();

create table if not exists public.user_aggregated_holdings (
  id uuid not null default gen_random_uuid(),
  user_id uuid not null,
  symbol text not null,
  security_id text,
  security_name text,
  security_type text,
  total_quantity numeric(20, 8) default 0,
  total_market_value numeric(20, 2) default 0,
  total_cost_basis numeric(20, 2) default 0,
  average_cost_basis numeric(20, 8) default 0,
  unrealized_gain_loss numeric(20, 2) default 0,
  unrealized_gain_loss_percent numeric(10, 4) default 0,
  day_change_value numeric(20, 2) default 0,
  day_change_percent numeric(10, 4) default 0,
  account_contributions jsonb default '[]'::jsonb,
  institution_breakdown jsonb default '{}'::jsonb,
  account_count integer default 1,
  updated_at timestamptz default now(),
  price_as_of timestamptz,
  data_source text default 'aggregated',
  constraint user_aggregated_holdings_pkey primary key (id),
  constraint user_aggregated_holdings_user_id_fkey foreign key (user_id) references auth.users (id) on delete cascade,
  constraint user_aggregated_holdings_user_id_symbol_key unique (user_id, symbol),
  constraint user_aggregated_holdings_security_type_check
    check (security_type in ('equity', 'bond', 'etf', 'mutual_fund', 'option', 'cash', 'crypto', 'other')),
  constraint user_aggregated_holdings_total_quantity_check check (total_quantity >= 0),
  constraint user_aggregated_holdings_total_market_value_check check (total_market_value >= 0),
  constraint user_aggregated_holdings_total_cost_basis_check check (total_cost_basis >= 0),
  constraint user_aggregated_holdings_account_count_check check (account_count > 0)
);

create index if not exists idx_aggregated_holdings_user_id on public.user_aggregated_holdings (user_id);
create index if not exists idx_aggregated_holdings_symbol on public.user_aggregated_holdings (symbol);
create index if not exists idx_aggregated_holdings_user_updated
  on public.user_aggregated_holdings (user_id, updated_at desc);
create index if not exists idx_aggregated_holdings_value
  on public.user_aggregated_holdings (user_id, total_market_value desc) where total_market_value > 0;
create index if not exists idx_aggregated_holdings_type on public.user_aggregated_holdings (user_id, security_type);
create index if not exists idx_aggregated_holdings_contributions
  on public.user_aggregated_holdings using gin (account_contributions);
create index if not exists idx_aggregated_holdings_institutions
  on public.user_aggregated_holdings using gin (institution_breakdown);

create or replace trigger update_aggregated_holdings_updated_at
  before update on public.user_aggregated_holdings
  for each row execute function public.update_updated_at_column();

create table if not exists public.user_onboarding (
  id uuid not null default gen_random_uuid(),
  user_id uuid not null,
  status text not null,
  onboarding_data jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  alpaca_account_id text,
  alpaca_account_number text,
  alpaca_account_status text,
  plaid_connection_completed_at timestamptz,
  brokerage_account_completed_at timestamptz,
  constraint user_onboarding_pkey primary key (id),
  constraint user_onboarding_user_id_key unique (user_id),
  constraint user_onboarding_user_id_fkey foreign key (user_id) references auth.users (id) on delete cascade,
  constraint user_onboarding_status_check
    check (status in ('not_started', 'in_progress', 'submitted', 'approved', 'rejected', 'pending',
                      'pending_closure', 'closed'))
);

create index if not exists idx_user_onboarding_completion_status
  on public.user_onboarding (plaid_connection_completed_at, brokerage_account_completed_at)
  where plaid_connection_completed_at is not null or brokerage_account_completed_at is not null;

-- Row-level security: one policy per role and action, naming its role, with auth.uid() wrapped in a select so it
-- is evaluated once per statement rather than once per row. anon gets nothing.
alter table public.user_investment_accounts enable row level security;
alter table public.user_aggregated_holdings enable row level security;
alter table public.user_onboarding enable row level security;

drop policy if exists "Users can manage their investment accounts" on public.user_investment_accounts;
drop policy if exists "Users can view their aggregated holdings" on public.user_aggregated_holdings;
drop policy if exists "Users can refresh their own aggregated holdings" on public.user_aggregated_holdings;

do $$
declare
  t text;
begin
  foreach t in array array['user_investment_accounts', 'user_aggregated_holdings', 'user_onboarding'] loop
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

-- Onboarding rows are the brokerage's KYC state: a user may read theirs, but only the backend writes them.
drop policy if exists owner_insert on public.user_onboarding;
drop policy if exists owner_update on public.user_onboarding;
drop policy if exists owner_delete on public.user_onboarding;
revoke insert, update, delete on public.user_onboarding from authenticated;
