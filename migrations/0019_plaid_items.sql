-- 0019: Plaid Items are stored, their access tokens sealed, their health tracked.
--
-- Before this, an Item existed only in the caller's memory: a process that restarted, or a second process sharing
-- the database, could not sync Plaid for anyone. Now each Item a user links is a row:
--   * `access_token_encrypted` holds the Item's access token sealed by the application's Keyring (AES-256-GCM, the
--     same keys as snaptrade_users.snaptrade_user_secret), bound to the owner, the Item and this column, so a value
--     copied onto another row does not open. Never plaintext; hidden from the API roles by column privileges.
--   * `status` is the Item's health as Plaid reports it (healthy, login_required, pending_expiration,
--     pending_disconnect, revoked). An open vocabulary: a state Plaid adds later is stored as its lowercase name,
--     and `error_code` keeps Plaid's own code (e.g. ITEM_LOGIN_REQUIRED) beside it.
--   * The Item's accounts are its user's user_investment_accounts rows with provider 'plaid' and
--     provider_item_id = item_id; the backend mirrors the Item's health on their connection_status.
-- user_investment_accounts.access_token_encrypted (0002) stays unused: a token belongs to an Item, not an account.
-- Re-runnable: every step finds its object and leaves it as it is.

create table if not exists public.plaid_items (
  id uuid not null default gen_random_uuid(),
  user_id uuid not null,
  item_id text not null,
  institution_id text,
  institution_name text,
  access_token_encrypted text not null,
  status text not null default 'healthy',
  error_code text,
  last_error text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  status_changed_at timestamptz not null default now(),
  last_synced_at timestamptz,
  constraint plaid_items_pkey primary key (id),
  constraint plaid_items_user_id_fkey foreign key (user_id) references auth.users (id) on delete cascade,
  -- Plaid's item_id is unique at Plaid; scoping it by user keeps one user's row from ever blocking another's.
  constraint plaid_items_user_id_item_id_key unique (user_id, item_id),
  constraint plaid_items_item_id_check check (pg_catalog.octet_length(item_id) between 1 and 1024),
  -- A sealed value (`v1:<key id>:<base64>`), never a bare token: Plaid's tokens start `access-`.
  constraint plaid_items_access_token_encrypted_check check (access_token_encrypted ~ '^v1:[A-Za-z0-9_-]{1,32}:'),
  constraint plaid_items_status_check check (status ~ '^[a-z][a-z0-9_]{0,63}$'),
  constraint plaid_items_error_code_check check (error_code ~ '^[A-Z0-9_]{1,64}$'),
  constraint plaid_items_last_error_check check (pg_catalog.length(last_error) <= 1000)
);

-- The link from an Item to its accounts: the account key's user_id, then provider_item_id.
create index if not exists idx_user_investment_accounts_plaid_item
  on public.user_investment_accounts (user_id, provider_item_id) where provider_item_id is not null;

create or replace trigger update_plaid_items_updated_at
  before update on public.plaid_items
  for each row execute function public.update_updated_at_column();

-- Owner reads the Item's status columns, never the token; the backend alone writes (0013's rule for every table the
-- engine trusts). RLS filters rows, column privileges hide the sealed column even on the owner's own row.
alter table public.plaid_items enable row level security;
drop policy if exists owner_select on public.plaid_items;
create policy owner_select on public.plaid_items for select to authenticated
  using ((select auth.uid()) = user_id);
revoke all on public.plaid_items from anon, authenticated;
grant select (id, user_id, item_id, institution_id, institution_name, status, error_code, last_error, created_at,
              updated_at, status_changed_at, last_synced_at)
  on public.plaid_items to authenticated;
grant select, insert, update, delete on public.plaid_items to service_role;

comment on table public.plaid_items is
  'Plaid Items: access token sealed by the application (bound to owner and Item), health as Plaid reports it';
comment on column public.plaid_items.access_token_encrypted is
  'the Item''s access token sealed (v1:<key id>:<base64>), bound to user_id and item_id; backend only';
comment on column public.plaid_items.status is
  'healthy, login_required, pending_expiration, pending_disconnect, revoked, or a later Plaid state by its name';
comment on column public.plaid_items.error_code is 'Plaid''s own code for the status, e.g. ITEM_LOGIN_REQUIRED';
