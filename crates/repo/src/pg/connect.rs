//! [`PgStore::connect`] and [`PgStoreOptions`]: a pool tuned so that a statement costs one round trip on the
//! caller's path, with every default's reason.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection as _, PgPool};

use super::PgStore;
use crate::RepoError;
use crate::error::classify;
use crate::secret::Keyring;

/// How [`PgStore::connect`] builds its pool. [`PgStoreOptions::default`] holds the defaults below; each setter
/// changes one of them.
///
/// | setting | default | sqlx's default |
/// |---|---|---|
/// | [`max_connections`](Self::max_connections) | 10 | 10 |
/// | [`acquire_timeout`](Self::acquire_timeout) | 5 s | 30 s |
/// | [`ping_after_idle`](Self::ping_after_idle) (instead of `test_before_acquire`) | 30 s | every acquire |
/// | [`idle_timeout`](Self::idle_timeout) | 5 min | 10 min |
/// | [`max_lifetime`](Self::max_lifetime) | 30 min | 30 min |
/// | [`statement_cache_capacity`](Self::statement_cache_capacity) | 256 | 100 |
/// | `application_name` (unless the URL sets one) | `tributary` | none |
///
/// **Round trips.** sqlx 0.9 talks to the server twice more than the statement needs: it pings a connection
/// as it hands it out (`test_before_acquire`, on by default) and again as it takes it back
/// (`Floating::return_to_pool` in sqlx-core's `pool/connection.rs`, which no setting turns off). The ping
/// on the way back runs in a task of its own after the caller has its answer; it is what makes a connection
/// whose statement was cancelled half-way safe to reuse (it waits for the server's `ReadyForQuery`, or closes
/// the connection), and it delivers the `ROLLBACK` of a dropped transaction. These options keep it and drop
/// the ping on the way out of the pool: a connection idle for less than
/// [`ping_after_idle`](Self::ping_after_idle) answered that release ping moments ago. So a lone statement
/// costs one round trip while the caller waits and two on the wire; with sqlx's defaults, two and three
/// (`cargo run --release --example bench -- --only pool` counts them).
///
/// ```no_run
/// use std::time::Duration;
/// use tributary_repo::{Keyring, PgStore, PgStoreOptions};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let url = std::env::var("DATABASE_URL")?;
/// // The defaults:
/// let store = PgStore::connect(&url, Keyring::from_env()?).await?;
/// // Or one setting changed, e.g. a smaller pool for a worker that shares the server's connection limit:
/// let worker = PgStoreOptions::default()
///     .max_connections(4)
///     .acquire_timeout(Duration::from_secs(2))
///     .connect(&url, Keyring::from_env()?)
///     .await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct PgStoreOptions {
    max_connections: u32,
    acquire_timeout: Duration,
    ping_after_idle: Duration,
    idle_timeout: Option<Duration>,
    max_lifetime: Option<Duration>,
    statement_cache_capacity: usize,
}

impl Default for PgStoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
            ping_after_idle: Duration::from_secs(30),
            idle_timeout: Some(Duration::from_secs(5 * 60)),
            max_lifetime: Some(Duration::from_secs(30 * 60)),
            statement_cache_capacity: 256,
        }
    }
}

impl PgStoreOptions {
    /// Default **10** (sqlx's). A store's call holds one connection for one statement or one short
    /// transaction, so ten serve many concurrent callers; several processes fit within a small server's
    /// `max_connections` (Supabase's smallest instance allows 60 direct connections).
    pub fn max_connections(mut self, max: u32) -> Self {
        self.max_connections = max;
        self
    }

    /// Default **5 s** (sqlx: 30 s). How long a call waits for a connection before it fails with
    /// [`RepoError::Unavailable`], which the sync engine retries later; a request stuck for 30 s helps no
    /// one. The first connection [`PgStoreOptions::connect`] opens is bounded by it too.
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// Default **30 s**, in place of sqlx's `test_before_acquire` (a ping on every acquire: one more round
    /// trip on every call's path). A connection is pinged before use only when it has been idle this long:
    /// sqlx pings every connection as it goes back to the pool, so one idle for less answered the server
    /// moments ago, while one idle for longer may have been cut by a NAT, a firewall or a server restart and
    /// is replaced instead of failing the call. `Duration::ZERO` pings on every acquire, as sqlx's default does.
    pub fn ping_after_idle(mut self, idle: Duration) -> Self {
        self.ping_after_idle = idle;
        self
    }

    /// Default **5 min** (sqlx: 10 min). Idle connections beyond this are closed, before the common idle
    /// cut-offs of NAT gateways (AWS's drops idle TCP flows after 350 s) silently break them.
    pub fn idle_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.idle_timeout = timeout.into();
        self
    }

    /// Default **30 min** (sqlx's). A connection is closed and replaced after this long, which bounds a
    /// server process's caches and moves connections to a new primary after a failover.
    pub fn max_lifetime(mut self, lifetime: impl Into<Option<Duration>>) -> Self {
        self.max_lifetime = lifetime.into();
        self
    }

    /// Default **256** (sqlx: 100) prepared statements kept per connection. The store alone has close to a
    /// hundred distinct statements and a service adds its own; a statement evicted from the cache is prepared
    /// again, which costs one more round trip. Replaces the URL's `statement-cache-capacity`. Behind a transaction-mode pooler that does not
    /// support prepared statements, use `0`.
    pub fn statement_cache_capacity(mut self, capacity: usize) -> Self {
        self.statement_cache_capacity = capacity;
        self
    }

    /// sqlx's pool options with these settings, for a pool built by hand (e.g. to share it beyond the store).
    pub fn pool_options(&self) -> PgPoolOptions {
        let ping_after_idle = self.ping_after_idle;
        PgPoolOptions::new()
            .max_connections(self.max_connections)
            .acquire_timeout(self.acquire_timeout)
            .idle_timeout(self.idle_timeout)
            .max_lifetime(self.max_lifetime)
            .test_before_acquire(false)
            // sqlx's own pattern for a conditional test (`PoolOptions::before_acquire`): an `Err` closes the
            // connection and the pool opens another within the acquire timeout.
            .before_acquire(move |connection, meta| {
                Box::pin(async move {
                    if meta.idle_for >= ping_after_idle {
                        connection.ping().await?;
                    }
                    Ok(true)
                })
            })
    }

    /// `options` with these settings: the statement cache, and `application_name` unless it is set.
    pub fn connect_options(&self, options: PgConnectOptions) -> PgConnectOptions {
        let options = options.statement_cache_capacity(self.statement_cache_capacity);
        if options.get_application_name().is_some() {
            options
        } else {
            options.application_name("tributary")
        }
    }

    /// A service-mode [`PgStore`] on the database at `url` (`postgres://` or `postgresql://`), with one
    /// connection opened to check it.
    ///
    /// # Errors
    /// [`RepoError::BadDatabaseUrl`] if `url` cannot be used, naming the part at fault (the password is never
    /// repeated); [`RepoError::Unavailable`] if no connection opens within the acquire timeout; another
    /// variant for what the server refused (e.g. the password).
    pub async fn connect(&self, url: &str, keyring: Keyring) -> Result<PgStore, RepoError> {
        self.connect_with(parse_url(url)?, keyring).await
    }

    /// As [`Self::connect`] for options already parsed.
    ///
    /// # Errors
    /// As [`Self::connect`], without the URL's.
    pub async fn connect_with(
        &self,
        options: PgConnectOptions,
        keyring: Keyring,
    ) -> Result<PgStore, RepoError> {
        let pool: PgPool = self
            .pool_options()
            .connect_with(self.connect_options(options))
            .await
            .map_err(classify)?;
        Ok(PgStore::new(pool, keyring))
    }
}

impl PgStore {
    /// A service-mode store on the database at `url`, over a pool with [`PgStoreOptions`]'s defaults: one
    /// round trip on the caller's path per statement.
    ///
    /// ```no_run
    /// use tributary_repo::{Keyring, PgStore, PortfolioRepository};
    /// # async fn run(user: tributary_domain::UserId) -> Result<(), Box<dyn std::error::Error>> {
    /// let store = PgStore::connect(&std::env::var("DATABASE_URL")?, Keyring::from_env()?).await?;
    /// let summary = store.portfolio_mode(user).await?; // one statement, one round trip
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// As [`PgStoreOptions::connect`].
    pub async fn connect(url: &str, keyring: Keyring) -> Result<Self, RepoError> {
        PgStoreOptions::default().connect(url, keyring).await
    }
}

/// `url` as connect options, or what is wrong with it; nothing of the URL after its scheme is repeated (its
/// user part may hold a password).
fn parse_url(url: &str) -> Result<PgConnectOptions, RepoError> {
    let bad = |reason: String| RepoError::BadDatabaseUrl { reason };
    let scheme = url.split_once("://").map(|(scheme, _)| scheme);
    match scheme {
        Some("postgres" | "postgresql") => {}
        Some(other) if other.len() <= 16 && other.chars().all(|c| c.is_ascii_alphanumeric()) => {
            return Err(bad(format!(
                "the scheme is {other}://, expected postgres:// or postgresql://"
            )));
        }
        _ => return Err(bad("it does not start with postgres://".to_owned())),
    }
    PgConnectOptions::from_str(url).map_err(|error| bad(redacted(&error.to_string(), url)))
}

/// sqlx's message about `url` with the URL's password, should it appear, replaced.
fn redacted(message: &str, url: &str) -> String {
    let authority = url
        .split_once("://")
        .map_or("", |(_, rest)| rest.split(['/', '?']).next().unwrap_or(""));
    let password = authority
        .rsplit_once('@')
        .and_then(|(user_info, _)| user_info.split_once(':'))
        .map(|(_, password)| password)
        .filter(|password| !password.is_empty());
    let message = message.replace('\n', " ");
    match password {
        Some(password) => message.replace(password, "[password]"),
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_a_message_is_replaced() {
        let url = "postgres://app:hunter2-secret@db.invalid:bad/tributary";
        let message = redacted("port of db.invalid: hunter2-secret is wrong", url);
        assert_eq!(message, "port of db.invalid: [password] is wrong");
    }

    #[test]
    fn a_url_of_another_database_names_its_scheme() {
        let error = parse_url("mysql://app:hunter2-secret@db.invalid/tributary").unwrap_err();
        assert_eq!(
            error.to_string(),
            "bad database URL: the scheme is mysql://, expected postgres:// or postgresql://"
        );
    }
}
