//! One axum server on an ephemeral 127.0.0.1 port, stopped when dropped.

use std::io;
use std::net::SocketAddr;

use axum::{Router, middleware};

use crate::knobs::{Dialect, Instruments, Knobs, RequestLog, instrument};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A running server; dropping it asks the server to shut down.
#[derive(Debug)]
pub(crate) struct Server {
    address: SocketAddr,
    // Dropping the sender resolves the receiver, which starts the graceful shutdown.
    _shutdown: oneshot::Sender<()>,
}

impl Server {
    /// Binds 127.0.0.1:0 and serves `router` on a background task of the current runtime.
    pub(crate) async fn spawn(router: Router) -> io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let address = listener.local_addr()?;
        let (shutdown, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
            if let Err(error) = served {
                tracing::warn!(%error, "sandbox server stopped with an error");
            }
        });
        Ok(Self {
            address,
            _shutdown: shutdown,
        })
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub(crate) fn base_url(&self) -> String {
        format!("http://{}", self.address)
    }
}

/// A provider's server behind the fault-injecting, request-logging middleware.
#[derive(Debug)]
pub(crate) struct InstrumentedServer {
    server: Server,
    instruments: Instruments,
}

impl InstrumentedServer {
    /// Wraps `router` in the knobs' middleware, worded by `dialect`, and serves it.
    pub(crate) async fn spawn(router: Router, dialect: impl Dialect) -> io::Result<Self> {
        let instruments = Instruments::new(dialect);
        let router = router.layer(middleware::from_fn_with_state(
            instruments.clone(),
            instrument,
        ));
        Ok(Self {
            server: Server::spawn(router).await?,
            instruments,
        })
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub(crate) fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// This server's knobs.
    pub(crate) fn knobs(&self) -> &Knobs {
        &self.instruments.knobs
    }

    /// This server's request log.
    pub(crate) fn log(&self) -> &RequestLog {
        &self.instruments.log
    }
}
