-- A digest of each holding as Tributary last wrote it, so that a re-sync where nothing changed is one short read
-- (docs/benchmarks.md, "What moved the numbers"). Idempotent: re-running the file changes nothing.
--
-- content_digest is an HMAC-SHA256 of the row's data, computed by the repository under a key derived from the
-- keyring that seals SnapTrade secrets, and written with the row. Before a replacement the repository reads each
-- of the user's (symbol, content_digest) pairs; when every one matches the batch, the user's holdings already are
-- the batch and nothing more is sent. Keyed, so that a client writing its own rows through the Data API (the
-- owner policies allow it) cannot make a row of its choosing look like the provider's.
alter table public.user_aggregated_holdings add column if not exists content_digest bytea;

comment on column public.user_aggregated_holdings.content_digest is
  'HMAC-SHA256 of the row''s data as Tributary''s repository last wrote it; null after any other write. Not a secret, and not meaningful outside the repository.';

-- The digest only vouches for a row nobody else has changed since. The repository sets a new digest with every
-- change it makes, and sets updated_at itself (to now() when the data changed; a write that only refreshes the
-- digest, after a key rotation or for a row written before this migration, leaves it alone). Any other update
-- (a client through the Data API, a hand-run fix) leaves the digest as it was, so this trigger clears it and
-- stamps updated_at as the base schema's trigger did: the next sync compares that row column by column and
-- rewrites it.
create or replace function public.stamp_aggregated_holding()
returns trigger
language plpgsql
security invoker
set search_path = ''
as $$
begin
  if new.content_digest is not null and new.content_digest is distinct from old.content_digest then
    return new;
  end if;
  new.content_digest := null;
  new.updated_at := pg_catalog.now();
  return new;
end;
$$;
revoke execute on function public.stamp_aggregated_holding() from public, anon, authenticated;

drop trigger if exists update_aggregated_holdings_updated_at on public.user_aggregated_holdings;
create or replace trigger stamp_aggregated_holding
  before update on public.user_aggregated_holdings
  for each row execute function public.stamp_aggregated_holding();
