//! Re-sealing SnapTrade user secrets after a key rotation: `reseal_secrets` (committed batches: each reads its
//! rows `FOR UPDATE`, opens each value under the old key, seals it under the new one, writes the batch with one
//! `UPDATE … FROM unnest(…)`) against that one `UPDATE … FROM unnest(…)` for every row at once with ciphertexts
//! computed beforehand: the write a re-seal cannot avoid. The crypto alone (open and seal each value) is
//! reported beside it. The section runs in a database of its own, so the only sealed values are its own (the
//! other sections' secrets are sealed under the bench's key, which this keyring does not hold).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, PgPool, Row};
use tributary::domain::{SnapTradeUserSecret, UserId};
use tributary::repo::secret::{SNAPTRADE_USER_SECRET, SecretKey};
use tributary::repo::{Keyring, PgStore, RESEAL_BATCH, ResealReport, SecretRepository};
use uuid::Uuid;

use crate::portfolio::{bench_pool, create_users};
use crate::report::{Figure, Timed};

/// Timed runs of each side, alternating; each figure is the median.
const RUNS: usize = 3;

/// The target: `reseal_secrets` within twice the one statement. It does the same writes in committed
/// batches of 500 (one WAL flush and a few round trips each, 20 for 10,000 rows), reads the same rows first with
/// `FOR UPDATE` (which writes each row's lock into its header), and the crypto (about 2 µs a value).
const MAX_RATIO: f64 = 2.0;

/// Batch sizes reported beside the default, for information.
const OTHER_BATCHES: [usize; 2] = [100, 2_000];

/// One sealed row as the section wrote it.
struct Sealed {
    id: Uuid,
    owner: UserId,
    plaintext: String,
    old: String,
}

pub async fn run(options: &PgConnectOptions, secrets: usize) -> anyhow::Result<Vec<Figure>> {
    let database = format!("{}_reseal", options.get_database().unwrap_or("tributary"));
    let admin = bench_pool(options.clone(), 1).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("create database {database}")))
        .execute(&admin)
        .await
        .context("creating the re-seal section's database")?;
    let outcome = measure(
        &options
            .clone()
            .database(&database)
            .disable_statement_logging(),
        secrets,
    )
    .await;
    let drop_reseal_database = format!("drop database if exists {database} with (force)");
    sqlx::query(sqlx::AssertSqlSafe(drop_reseal_database))
        .execute(&admin)
        .await?;
    admin.close().await;
    outcome
}

async fn measure(options: &PgConnectOptions, secrets: usize) -> anyhow::Result<Vec<Figure>> {
    let pool = bench_pool(options.clone(), 4).await?;
    tributary::repo::MIGRATOR.run(&pool).await?;
    let (old_key, new_key) = (key_bytes(), key_bytes());
    let old = Keyring::new(SecretKey::from_bytes(old_key));
    let rotated = Keyring::new(SecretKey::from_bytes(new_key))
        .with_previous(SecretKey::from_bytes(old_key))?;
    let rows = seal_and_store(&pool, &old, secrets).await?;

    // The crypto alone, and the ciphertexts the one statement writes.
    let started = Instant::now();
    let mut new = Vec::with_capacity(rows.len());
    for row in &rows {
        new.push(
            rotated
                .reseal(SNAPTRADE_USER_SECRET, &row.old, row.owner)?
                .context("a value sealed under the old key needs re-sealing")?,
        );
    }
    let crypto = started.elapsed();

    let store = PgStore::new(pool.clone(), rotated);
    let (mut resealing, mut updating) = (Vec::new(), Vec::new());
    let mut checked = Ok(());
    for run in 0..RUNS {
        for reseal_now in [run.is_multiple_of(2), !run.is_multiple_of(2)] {
            if reseal_now {
                let started = Instant::now();
                let report = store.reseal_secrets(RESEAL_BATCH).await?;
                resealing.push(started.elapsed());
                all_resealed(&report, rows.len(), RESEAL_BATCH)?;
                if checked.is_ok() {
                    checked = check(&pool, &rows, new_key, old_key).await?;
                }
            } else {
                let started = Instant::now();
                let written = one_update(&pool, &rows, &new).await?;
                updating.push(started.elapsed());
                ensure!(
                    written == rows.len(),
                    "the one statement wrote {written} of {}",
                    rows.len()
                );
            }
            restore(&pool, &rows).await?;
        }
    }
    // Beside it, other batch sizes: what the batches' commits (one WAL flush each) and round trips cost.
    let mut other_sizes = Vec::new();
    for batch in OTHER_BATCHES {
        let mut runs = Vec::with_capacity(RUNS);
        for _ in 0..RUNS {
            let started = Instant::now();
            let report = store.reseal_secrets(batch).await?;
            runs.push(started.elapsed());
            all_resealed(&report, rows.len(), batch)?;
            restore(&pool, &rows).await?;
        }
        other_sizes.push((batch, median(&mut runs)));
    }
    pool.close().await;
    let what = format!("re-seal {secrets} SnapTrade user secrets after a key rotation");
    let update = median(&mut updating);
    let mut figures = vec![
        Figure::at_most(
            format!(
                "{what}: reseal_secrets({RESEAL_BATCH}) vs one UPDATE … FROM unnest of pre-computed \
                 ciphertexts, median of {RUNS}"
            ),
            Timed::new(
                format!("reseal_secrets, batches of {RESEAL_BATCH}"),
                median(&mut resealing),
            ),
            Timed::new("one UPDATE", median(&mut updating)),
            MAX_RATIO,
        )
        .requiring(checked),
        Figure::report(
            format!("{what}: the crypto alone (open under the old key, seal under the new) vs one UPDATE"),
            Timed::new("crypto alone", crypto),
            Timed::new("one UPDATE", update),
        ),
    ];
    for (batch, took) in other_sizes {
        figures.push(Figure::report(
            format!("{what}: reseal_secrets({batch}) vs one UPDATE, median of {RUNS}"),
            Timed::new(format!("reseal_secrets, batches of {batch}"), took),
            Timed::new("one UPDATE", update),
        ));
    }
    Ok(figures)
}

/// 32 random bytes (two v4 UUIDs' worth of randomness; a bench key).
fn key_bytes() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(Uuid::new_v4().as_bytes());
    bytes
}

/// `secrets` users, each registered with a secret sealed under `old`, written in one statement.
async fn seal_and_store(
    pool: &PgPool,
    old: &Keyring,
    secrets: usize,
) -> anyhow::Result<Vec<Sealed>> {
    let users = create_users(pool, secrets).await?;
    let mut rows = Vec::with_capacity(secrets);
    for owner in users {
        let plaintext = Uuid::new_v4().to_string();
        let secret = SnapTradeUserSecret::new(SecretString::from(plaintext.clone()))?;
        rows.push(Sealed {
            id: Uuid::new_v4(),
            owner,
            old: old.seal(&secret, owner),
            plaintext,
        });
    }
    sqlx::query(
        "insert into public.snaptrade_users (id, user_id, snaptrade_user_id, snaptrade_user_secret)
         select id, user_id, 'bench-' || user_id, sealed
         from unnest($1::uuid[], $2::uuid[], $3::text[]) v(id, user_id, sealed)",
    )
    .bind(ids(&rows))
    .bind(rows.iter().map(|r| r.owner.into_uuid()).collect::<Vec<_>>())
    .bind(olds(&rows))
    .execute(pool)
    .await?;
    vacuum(pool).await?;
    Ok(rows)
}

/// The baseline: every row's new ciphertext written by one statement, the re-seal's own `UPDATE`, committed.
async fn one_update(pool: &PgPool, rows: &[Sealed], new: &[String]) -> anyhow::Result<usize> {
    let written = sqlx::query(
        "update public.snaptrade_users s set snaptrade_user_secret = v.sealed
         from unnest($1::uuid[], $2::text[], $3::text[]) as v(id, old, sealed)
         where s.id = v.id and s.snaptrade_user_secret = v.old",
    )
    .bind(ids(rows))
    .bind(olds(rows))
    .bind(new)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(usize::try_from(written)?)
}

/// Every row back under the old key, and the table vacuumed, so each timed run starts from the same table.
async fn restore(pool: &PgPool, rows: &[Sealed]) -> anyhow::Result<()> {
    sqlx::query(
        "update public.snaptrade_users s set snaptrade_user_secret = v.old
         from unnest($1::uuid[], $2::text[]) as v(id, old) where s.id = v.id",
    )
    .bind(ids(rows))
    .bind(olds(rows))
    .execute(pool)
    .await?;
    vacuum(pool).await?;
    Ok(())
}

/// After a re-seal: every stored value opens under the new key alone, to the secret it held, and none opens
/// under the old key alone.
async fn check(
    pool: &PgPool,
    rows: &[Sealed],
    new_key: [u8; 32],
    old_key: [u8; 32],
) -> anyhow::Result<Result<(), String>> {
    let new_only = Keyring::new(SecretKey::from_bytes(new_key));
    let old_only = Keyring::new(SecretKey::from_bytes(old_key));
    let stored: HashMap<Uuid, String> =
        sqlx::query("select id, snaptrade_user_secret from public.snaptrade_users")
            .fetch_all(pool)
            .await?
            .iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect::<Result<_, sqlx::Error>>()?;
    let (mut wrong, mut old_opens) = (0, 0);
    for row in rows {
        let Some(sealed) = stored.get(&row.id) else {
            wrong += 1;
            continue;
        };
        match new_only.open(sealed, row.owner) {
            Ok(secret) if secret.expose_secret() == row.plaintext => {}
            _ => wrong += 1,
        }
        if old_only.open(sealed, row.owner).is_ok() {
            old_opens += 1;
        }
    }
    Ok(if wrong == 0 && old_opens == 0 {
        Ok(())
    } else {
        Err(format!(
            "{wrong} values do not open to their secret under the new key; {old_opens} still open under the old"
        ))
    })
}

fn median(samples: &mut [Duration]) -> Duration {
    crate::report::quantile(samples, 0.5)
}

/// Every one of the `rows` secrets re-sealed, none left unopenable.
fn all_resealed(report: &ResealReport, rows: usize, batch: usize) -> anyhow::Result<()> {
    ensure!(
        report.resealed == rows && report.unopenable == 0,
        "batches of {batch}: re-sealed {} of {rows}, {} unopenable",
        report.resealed,
        report.unopenable
    );
    Ok(())
}

/// The rows' ids, in order, for an `unnest`.
fn ids(rows: &[Sealed]) -> Vec<Uuid> {
    rows.iter().map(|r| r.id).collect()
}

/// The rows' values sealed under the old key, in order.
fn olds(rows: &[Sealed]) -> Vec<String> {
    rows.iter().map(|r| r.old.clone()).collect()
}

/// Dead row versions cleared and statistics fresh, so each timed run starts from the same table.
async fn vacuum(pool: &PgPool) -> anyhow::Result<()> {
    sqlx::query("vacuum analyze public.snaptrade_users")
        .execute(pool)
        .await?;
    Ok(())
}
