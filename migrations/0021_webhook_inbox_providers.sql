-- 0021: the webhook inbox of 0014 serves every provider that sends webhooks. Plaid's deliveries are recorded,
-- de-duplicated and retried the same way as SnapTrade's, so each row says whose delivery it is, and the provider
-- is part of the key: one provider's delivery can never block, or be taken for, another's.
-- Re-runnable: every step finds its object and leaves it as it is.
--
-- The table keeps its name. Renaming it would change nothing stored, but every reader of the catalog (the schema
-- check, the RLS matrix, an operator's saved queries and dashboards) would have to move at once; the table's
-- comment says what it holds now.

-- Rows recorded before this migration are SnapTrade's (the only provider whose webhooks were received), and so
-- are the rows a process still running the previous release writes during a rolling deploy (its insert names no
-- provider): the default stays 'snaptrade' for both. The current code always names the provider.
alter table public.snaptrade_webhook_events
  add column if not exists provider text not null default 'snaptrade';

do $$
begin
  if not exists (
    select 1 from pg_catalog.pg_constraint
    where conrelid = 'public.snaptrade_webhook_events'::regclass and conname = 'snaptrade_webhook_events_provider_check'
  ) then
    -- The providers whose webhooks Tributary receives (Alpaca's trade events come over a stream, not here).
    alter table public.snaptrade_webhook_events add constraint snaptrade_webhook_events_provider_check
      check (provider in ('snaptrade', 'plaid'));
  end if;
end $$;

-- The key becomes (provider, snaptrade_user_id, webhook_id). `snaptrade_user_id` stays SnapTrade's scope ('' for a
-- delivery of another provider: Plaid's delivery id is the signed token's issue time and the body's SHA-256, unique
-- on its own). The old key is replaced whatever its name.
do $$
declare
  current_key name;
  key_columns text[];
begin
  select c.conname, array(
           select a.attname::text from unnest(c.conkey) with ordinality as k(attnum, ord)
           join pg_catalog.pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.attnum
           order by k.ord)
  into current_key, key_columns
  from pg_catalog.pg_constraint c
  where c.conrelid = 'public.snaptrade_webhook_events'::regclass and c.contype = 'p';
  if key_columns is distinct from array['provider', 'snaptrade_user_id', 'webhook_id'] then
    if current_key is not null then
      execute pg_catalog.format('alter table public.snaptrade_webhook_events drop constraint %I', current_key);
    end if;
    alter table public.snaptrade_webhook_events
      add constraint snaptrade_webhook_events_pkey primary key (provider, snaptrade_user_id, webhook_id);
  end if;
end $$;

-- Each provider's retry reads its own deliveries not applied yet, oldest first.
drop index if exists public.idx_snaptrade_webhook_events_pending;
create index if not exists idx_snaptrade_webhook_events_provider_pending
  on public.snaptrade_webhook_events (provider, received_at) where status <> 'applied';

-- A Plaid webhook names an Item, not a user: its owner is found by the Item's id across users.
create index if not exists idx_plaid_items_item_id on public.plaid_items (item_id);

-- Backend only, as in 0014: RLS on with no policy, nothing granted to the API roles.
alter table public.snaptrade_webhook_events enable row level security;
revoke all on public.snaptrade_webhook_events from anon, authenticated;
grant select, insert, update, delete on public.snaptrade_webhook_events to service_role;

comment on table public.snaptrade_webhook_events is
  'Webhook inbox of every provider (SnapTrade, Plaid): each verified delivery recorded before it is acknowledged, applied from its row, retried on failure; keyed by provider, SnapTrade user ('''' for other providers) and delivery id';
comment on column public.snaptrade_webhook_events.provider is
  'whose delivery: snaptrade or plaid';
