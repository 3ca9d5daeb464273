-- 0024: history. Every investment transaction the providers report, how far each account's transactions were
-- synced, and the portfolio's value day by day.
--
--   * investment_transactions: one table for Plaid investment transactions, SnapTrade account activities and Alpaca
--     account activities, keyed by the provider's own id within the user's account, so a re-sync or an overlapping
--     page never stores one twice. The type is Tributary's open vocabulary (buy, sell, dividend, deposit…, or the
--     provider's own word); the subtype is the provider's finer kind as it spells it. Quantity and price are
--     unconstrained numeric: a transaction is the provider's record, kept to its last digit (Plaid's own example
--     sells 47.74104242992852 units). Money is numeric(28,10), as every money column since 0017, in the row's one
--     currency. `amount` is signed as cash into the account (Plaid's sign, which is the other way, is turned at the
--     edge). The raw record is kept whole.
--   * investment_transaction_sync: per account, the last day up to which its transactions are stored
--     (`synced_through`); the next sync starts there, less an overlap window for the days providers revise.
--   * portfolio_value_history: per user, account (NULL: the user's total over every account), day and currency, the
--     value recorded after a successful sync. One row per key: `unique nulls not distinct` (PostgreSQL 15, as 0018's
--     holdings key) makes the total row (account_id NULL) unique per day and currency. A sentinel account id
--     (the nil UUID) would have needed the foreign key to accounts to be dropped or a fake account row to exist;
--     NULL keeps the foreign key whole (a composite key with a NULL part is not checked) and says what it means.
--
-- Keys carry their owner (0013): every unique key includes user_id, and each row references (account_id, user_id),
-- so a row can only hang off an account of the same user. The owner reads, the backend alone writes: the engine
-- derives the value history from these rows, and a user who could write them could forge their own history.
-- Re-runnable: every step finds its object and leaves it as it is.

create table if not exists public.investment_transactions (
  id uuid not null default gen_random_uuid(),
  user_id uuid not null,
  account_id uuid not null,
  provider text not null,
  provider_transaction_id text not null,
  trade_date date not null,
  settlement_date date,
  transaction_type text not null,
  subtype text,
  symbol text,
  security_id text,
  quantity numeric,
  price numeric,
  amount numeric(28,10) not null,
  fees numeric(28,10),
  currency text not null,
  description text,
  raw_provider_data jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint investment_transactions_pkey primary key (id),
  -- The account's own key carries its owner (user_investment_accounts_id_user_id_key, 0013); the user's deletion
  -- reaches these rows through the account.
  constraint investment_transactions_account_id_user_id_fkey foreign key (account_id, user_id)
    references public.user_investment_accounts (id, user_id) on delete cascade,
  constraint investment_transactions_account_transaction_key
    unique (user_id, account_id, provider_transaction_id),
  constraint investment_transactions_provider_check
    check (provider in ('plaid', 'snaptrade', 'alpaca', 'manual')),
  constraint investment_transactions_currency_check check (currency ~ '^[A-Z0-9]{2,12}$'),
  -- Identifiers and vocabulary words: 1 to 1024 bytes (under the b-tree entry limit), no control characters, as
  -- the domain's text types (MAX_TEXT_BYTES).
  constraint investment_transactions_provider_transaction_id_check
    check (pg_catalog.octet_length(provider_transaction_id) between 1 and 1024
           and provider_transaction_id !~ '[[:cntrl:]]'),
  constraint investment_transactions_transaction_type_check
    check (pg_catalog.octet_length(transaction_type) between 1 and 1024 and transaction_type !~ '[[:cntrl:]]'),
  constraint investment_transactions_subtype_check
    check (pg_catalog.octet_length(subtype) between 1 and 1024 and subtype !~ '[[:cntrl:]]'),
  constraint investment_transactions_symbol_check
    check (pg_catalog.octet_length(symbol) between 1 and 1024 and symbol !~ '[[:cntrl:]]'),
  constraint investment_transactions_security_id_check
    check (pg_catalog.octet_length(security_id) between 1 and 1024 and security_id !~ '[[:cntrl:]]'),
  -- A description is cleaned, not refused, by the domain (MAX_MESSAGE_BYTES).
  constraint investment_transactions_description_check
    check (pg_catalog.octet_length(description) between 1 and 4096),
  constraint investment_transactions_raw_provider_data_check
    check (pg_catalog.jsonb_typeof(raw_provider_data) = 'object')
);

-- A user's transactions newest first, over every account or in one.
create index if not exists idx_investment_transactions_user_date
  on public.investment_transactions (user_id, trade_date desc);
create index if not exists idx_investment_transactions_account_date
  on public.investment_transactions (user_id, account_id, trade_date desc);

create or replace trigger update_investment_transactions_updated_at
  before update on public.investment_transactions
  for each row execute function public.update_updated_at_column();

-- A transaction keeps its currency: its amount, price and fees are in it, and the account's history (its net
-- contributions, its value) is summed per currency. A revision naming another currency is refused, whoever writes
-- it, rather than silently moving a figure from one currency's series to another's; a provider that really changed
-- it is followed by deleting the transaction and storing it again.
create or replace function public.keep_transaction_currency()
returns trigger
language plpgsql
security invoker
set search_path = ''
as $$
begin
  if new.currency is distinct from old.currency then
    raise exception 'transaction % is stored in %; a revision in % would mix currencies in the account''s history (remove it and store it again if the provider really changed it)',
      old.provider_transaction_id, old.currency, new.currency
      using errcode = 'check_violation', schema = 'public', table = 'investment_transactions', column = 'currency';
  end if;
  return new;
end;
$$;
revoke execute on function public.keep_transaction_currency() from public, anon, authenticated;

create or replace trigger keep_investment_transactions_currency
  before update of currency on public.investment_transactions
  for each row execute function public.keep_transaction_currency();

create table if not exists public.investment_transaction_sync (
  user_id uuid not null,
  account_id uuid not null,
  synced_through date not null,
  updated_at timestamptz not null default now(),
  constraint investment_transaction_sync_pkey primary key (user_id, account_id),
  constraint investment_transaction_sync_account_id_user_id_fkey foreign key (account_id, user_id)
    references public.user_investment_accounts (id, user_id) on delete cascade
);

create or replace trigger update_investment_transaction_sync_updated_at
  before update on public.investment_transaction_sync
  for each row execute function public.update_updated_at_column();

create table if not exists public.portfolio_value_history (
  id uuid not null default gen_random_uuid(),
  user_id uuid not null,
  account_id uuid,
  day date not null,
  currency text not null,
  market_value numeric(28,10) not null,
  cost_basis numeric(28,10),
  cash numeric(28,10),
  net_contributions numeric(28,10),
  updated_at timestamptz not null default now(),
  constraint portfolio_value_history_pkey primary key (id),
  -- The total rows (account_id NULL) belong to the user directly.
  constraint portfolio_value_history_user_id_fkey foreign key (user_id) references auth.users (id) on delete cascade,
  constraint portfolio_value_history_account_id_user_id_fkey foreign key (account_id, user_id)
    references public.user_investment_accounts (id, user_id) on delete cascade,
  constraint portfolio_value_history_point_key unique nulls not distinct (user_id, account_id, day, currency),
  constraint portfolio_value_history_currency_check check (currency ~ '^[A-Z0-9]{2,12}$'),
  constraint portfolio_value_history_cost_basis_check check (cost_basis >= 0)
);

-- value_history(user, from, to): a user's points by day.
create index if not exists idx_portfolio_value_history_user_day
  on public.portfolio_value_history (user_id, day);

create or replace trigger update_portfolio_value_history_updated_at
  before update on public.portfolio_value_history
  for each row execute function public.update_updated_at_column();

-- Owner reads, backend writes (0013's rule for every table the engine trusts).
do $$
declare
  t text;
begin
  foreach t in array array['investment_transactions', 'investment_transaction_sync', 'portfolio_value_history'] loop
    execute pg_catalog.format('alter table public.%I enable row level security', t);
    execute pg_catalog.format('drop policy if exists owner_select on public.%I', t);
    execute pg_catalog.format(
      'create policy owner_select on public.%I for select to authenticated using ((select auth.uid()) = user_id)', t);
    execute pg_catalog.format('revoke all on public.%I from anon, authenticated', t);
    execute pg_catalog.format('grant select on public.%I to authenticated', t);
    execute pg_catalog.format('grant select, insert, update, delete on public.%I to service_role', t);
  end loop;
end
$$;

comment on table public.investment_transactions is
  'Investment transactions from every provider, keyed by the provider''s id within the user''s account';
comment on column public.investment_transactions.amount is
  'Effect on the account''s cash in `currency`: positive when cash comes in (Plaid''s sign is turned at the edge)';
comment on column public.investment_transactions.quantity is
  'Units moved, positive into the account, exactly as the provider sent them (unbounded digits)';
comment on column public.investment_transactions.transaction_type is
  'Tributary''s vocabulary (buy, sell, dividend, deposit, withdrawal, transfer…) or the provider''s own word';
comment on column public.investment_transactions.subtype is 'The provider''s finer kind, as it spells it';
comment on table public.investment_transaction_sync is
  'Per account, the last day up to which its transactions are stored';
comment on table public.portfolio_value_history is
  'Value per user, account (NULL: the user''s total) and currency, one row a day, recorded after a successful sync';
