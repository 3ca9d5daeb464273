//! `cargo run --example sync -- <user-uuid>`: a user whose Plaid Item was linked (and stored, sealed) by one
//! process is synced by a fresh one from `DATABASE_URL`, which finds the Item in PostgreSQL; an Item Plaid
//! answers `ITEM_LOGIN_REQUIRED` for is recorded so, and the run fails with one line.

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;
use tributary::domain::{FeatureFlags, UserId};
use tributary::provider::plaid::{PlaidClient, PlaidConfig, PlaidEnvironment};
use tributary::provider::router::ProviderRouter;
use tributary::repo::{Keyring, PgStore};
use tributary::sync::SyncEngine;
use tributary::sync::source::GivenLogins;
use tributary_sandbox::Sandbox;

use crate::example_binary::{SECRET_KEY, one_line_failure, run, texts, url_of};

/// Runs the example off the test's runtime, which keeps serving the sandbox meanwhile.
async fn sync_example(args: Vec<String>, env: Vec<(&'static str, String)>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        run("sync", &args, &env, b"")
    })
    .await
    .expect("the example's runner")
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn the_sync_example_resyncs_a_stored_plaid_item_from_a_fresh_process(pool: PgPool) {
    let sandbox = Sandbox::start().await;
    let plaid = Arc::new(
        PlaidClient::new(
            PlaidConfig::new(
                sandbox.plaid().client_id(),
                SecretString::from(sandbox.plaid().secret()),
                PlaidEnvironment::Sandbox,
            )
            .with_base_url(sandbox.plaid_base_url().parse().unwrap()),
        )
        .unwrap(),
    );
    let keyring =
        Keyring::from_lookup(|name| (name == Keyring::KEY_VARIABLE).then(|| SECRET_KEY.to_owned()))
            .unwrap();
    let user = UserId::new(tributary_testdb::create_auth_user(&pool).await.unwrap());
    let linking = SyncEngine::new(
        Arc::new(PgStore::new(pool.clone(), keyring)),
        ProviderRouter::new(FeatureFlags::all_on()),
    )
    .with_plaid(Arc::clone(&plaid), Arc::new(GivenLogins::new()));
    let public_token = plaid
        .create_sandbox_public_token("ins_109508", &["investments".to_owned()])
        .await
        .unwrap();
    let item = linking
        .plaid()
        .link(user, public_token.expose_secret())
        .await
        .unwrap()
        .item_id;
    drop(linking);

    let url = url_of(&pool).await;
    let env = vec![
        ("DATABASE_URL", url),
        ("TRIBUTARY_SECRET_KEY", SECRET_KEY.to_owned()),
        ("PLAID_CLIENT_ID", sandbox.plaid().client_id().to_owned()),
        ("PLAID_SECRET", sandbox.plaid().secret().to_owned()),
        ("PLAID_ENV", "sandbox".to_owned()),
        ("PLAID_BASE_URL", sandbox.plaid_base_url()),
    ];
    let output = sync_example(vec![user.to_string()], env.clone()).await;
    let (stdout, stderr) = texts(&output);
    assert!(
        output.status.success(),
        "exit {}: {stderr}\n{stdout}",
        output.status
    );
    assert!(
        stdout.starts_with(&format!("user:      {user}\n")),
        "{stdout}"
    );
    assert!(stdout.contains("plaid:     synced"), "{stdout}");
    assert!(stdout.contains("snaptrade: skipped"), "{stdout}");
    let plaid_accounts = stdout
        .lines()
        .filter(|line| line.trim_start().starts_with("plaid "))
        .count();
    assert_eq!(plaid_accounts, 2, "the Item's two accounts: {stdout}");

    assert!(sandbox.plaid().require_login(item.as_str()));
    let output = sync_example(vec![user.to_string()], env).await;
    let reason = one_line_failure("sync", &output);
    assert!(
        reason.contains("ITEM_LOGIN_REQUIRED") || reason.contains("login"),
        "{reason}"
    );
    let (status, code): (String, Option<String>) =
        sqlx::query_as("select status, error_code from plaid_items where user_id = $1")
            .bind(user.into_uuid())
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        (status.as_str(), code.as_deref()),
        ("login_required", Some("ITEM_LOGIN_REQUIRED"))
    );
}

#[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
async fn the_sync_example_without_a_user_or_a_key_fails_with_one_line(pool: PgPool) {
    let url = url_of(&pool).await;
    let output = sync_example(vec![], vec![("DATABASE_URL", url.clone())]).await;
    assert!(one_line_failure("sync", &output).contains("usage:"));
    let output = sync_example(
        vec![UserId::generate().to_string()],
        vec![("DATABASE_URL", url)],
    )
    .await;
    assert!(one_line_failure("sync", &output).contains("TRIBUTARY_SECRET_KEY"));
}
