-- Supabase compatibility: on plain PostgreSQL, create what Supabase provides and the later migrations rely on.
-- On a real Supabase database every step finds its object already there and does nothing: each one is guarded
-- by a catalog lookup, because there `postgres` is no superuser and holds only USAGE on schema auth, and
-- PostgreSQL checks a privilege before it looks at IF NOT EXISTS (`create table if not exists auth.users` is
-- "permission denied for schema auth" even when the table exists).

-- Roles are cluster-wide and several databases of one cluster may run this at once (tests do), so a concurrent
-- creator is tolerated rather than treated as an error.
do $$
declare
  r record;
begin
  for r in select * from (values
      ('anon', 'nologin noinherit'),
      ('authenticated', 'nologin noinherit'),
      ('service_role', 'nologin noinherit bypassrls'),
      ('authenticator', 'login noinherit')) as roles(name, options)
  loop
    if not exists (select 1 from pg_catalog.pg_roles where rolname = r.name) then
      begin
        execute pg_catalog.format('create role %I %s', r.name, r.options);
      exception when duplicate_object or unique_violation then
        null;
      end;
    end if;
  end loop;
end
$$;

do $$
declare
  r text;
begin
  foreach r in array array['anon', 'authenticated', 'service_role'] loop
    if not pg_catalog.pg_has_role('authenticator', r, 'member') then
      begin
        execute pg_catalog.format('grant %I to authenticator', r);
      exception when others then
        -- On Supabase `postgres` may lack admin option on these roles; the grant is already in place there.
        null;
      end;
    end if;
  end loop;
end
$$;

-- On Supabase the auth schema, its tables and functions belong to supabase_auth_admin, and `postgres` may not
-- replace or re-grant them: each block below therefore only acts when the object is missing.
do $$
declare
  r text;
begin
  if pg_catalog.to_regnamespace('extensions') is null then
    create schema extensions;
  end if;
  foreach r in array array['anon', 'authenticated', 'service_role'] loop
    if not pg_catalog.has_schema_privilege(r, 'public', 'usage') then
      execute pg_catalog.format('grant usage on schema public to %I', r);
    end if;
  end loop;
end
$$;

do $$
begin
  if pg_catalog.to_regnamespace('auth') is null then
    create schema auth;
    grant usage on schema auth to anon, authenticated, service_role;
    grant usage on schema extensions to anon, authenticated, service_role;
  end if;
end
$$;

do $$
begin
  if pg_catalog.to_regclass('auth.users') is null then
    create table auth.users (
      id uuid not null,
      instance_id uuid,
      aud varchar(255),
      role varchar(255),
      email varchar(255),
      phone text,
      encrypted_password varchar(255),
      raw_app_meta_data jsonb,
      raw_user_meta_data jsonb,
      is_super_admin boolean,
      last_sign_in_at timestamptz,
      created_at timestamptz default now(),
      updated_at timestamptz default now(),
      constraint users_pkey primary key (id)
    );
  end if;
end
$$;

-- The current GoTrue bodies: the legacy per-claim setting wins, then the JSON claims PostgREST >= 9 sets.
do $$
begin
  if pg_catalog.to_regprocedure('auth.uid()') is null then
    create function auth.uid() returns uuid language sql stable set search_path = '' as $b$
      select coalesce(
        nullif(pg_catalog.current_setting('request.jwt.claim.sub', true), ''),
        (nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
      )::uuid
    $b$;
    grant execute on function auth.uid() to anon, authenticated, service_role;
  end if;
  if pg_catalog.to_regprocedure('auth.role()') is null then
    create function auth.role() returns text language sql stable set search_path = '' as $b$
      select coalesce(
        nullif(pg_catalog.current_setting('request.jwt.claim.role', true), ''),
        (nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
      )::text
    $b$;
    grant execute on function auth.role() to anon, authenticated, service_role;
  end if;
  if pg_catalog.to_regprocedure('auth.email()') is null then
    create function auth.email() returns text language sql stable set search_path = '' as $b$
      select coalesce(
        nullif(pg_catalog.current_setting('request.jwt.claim.email', true), ''),
        (nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'email')
      )::text
    $b$;
    grant execute on function auth.email() to anon, authenticated, service_role;
  end if;
  if pg_catalog.to_regprocedure('auth.jwt()') is null then
    create function auth.jwt() returns jsonb language sql stable set search_path = '' as $b$
      select coalesce(
        nullif(pg_catalog.current_setting('request.jwt.claim', true), ''),
        nullif(pg_catalog.current_setting('request.jwt.claims', true), '')
      )::jsonb
    $b$;
    grant execute on function auth.jwt() to anon, authenticated, service_role;
  end if;
end
$$;

-- Supabase's default grants: every new table, view and function in public is reachable by anon and
-- authenticated unless revoked. Copying them keeps exposure bugs visible in tests instead of hidden. Where the
-- role applying this already has default privileges of a kind in public (Supabase's own, or this file's from an
-- earlier run, as later migrations have narrowed them), they are left as they are.
do $$
declare
  k record;
begin
  for k in select * from (values ('r', 'tables'), ('f', 'functions'), ('S', 'sequences')) as kinds(code, name) loop
    if not exists (select 1 from pg_catalog.pg_default_acl d
                   where d.defaclrole = (select oid from pg_catalog.pg_roles where rolname = current_user)
                     and d.defaclnamespace = 'public'::pg_catalog.regnamespace
                     and d.defaclobjtype = k.code::"char") then
      execute pg_catalog.format(
        'alter default privileges in schema public grant all on %s to anon, authenticated, service_role', k.name);
    end if;
  end loop;
end
$$;
