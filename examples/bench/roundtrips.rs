//! Counts round trips: a TCP relay between a pool and PostgreSQL that counts how often the client starts
//! talking again after the server has answered. A query sent as Parse/Bind/Execute/Sync in one flush is one
//! round trip; BEGIN, the query and COMMIT are three.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use sqlx::postgres::PgConnectOptions;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The relay; it stops accepting when dropped (its task is aborted).
pub struct RoundTripCounter {
    turns: Arc<AtomicU64>,
    port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl RoundTripCounter {
    /// Relays to the server `options` points at.
    pub async fn start(options: &PgConnectOptions) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let target = format!("{}:{}", options.get_host(), options.get_port());
        let turns = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&turns);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (target, turns) = (target.clone(), Arc::clone(&counted));
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(target).await {
                        relay(client, server, turns).await;
                    }
                });
            }
        });
        Ok(Self { turns, port, task })
    }

    /// `options` pointed at the relay instead of the server.
    pub fn through(&self, options: PgConnectOptions) -> PgConnectOptions {
        options.host("127.0.0.1").port(self.port)
    }

    /// Round trips so far.
    pub fn count(&self) -> u64 {
        self.turns.load(Ordering::SeqCst)
    }
}

impl Drop for RoundTripCounter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(client: TcpStream, server: TcpStream, turns: Arc<AtomicU64>) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    // true while the server spoke last: the client's next bytes start a new round trip.
    let server_spoke = Arc::new(AtomicBool::new(true));
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let upstream = {
        let server_spoke = Arc::clone(&server_spoke);
        async move {
            let mut buffer = vec![0u8; 64 * 1024];
            while let Ok(read) = client_read.read(&mut buffer).await {
                if read == 0 || server_write.write_all(&buffer[..read]).await.is_err() {
                    break;
                }
                if server_spoke.swap(false, Ordering::SeqCst) {
                    turns.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
    };
    let downstream = async move {
        let mut buffer = vec![0u8; 64 * 1024];
        while let Ok(read) = server_read.read(&mut buffer).await {
            server_spoke.store(true, Ordering::SeqCst);
            if read == 0 || client_write.write_all(&buffer[..read]).await.is_err() {
                break;
            }
        }
    };
    tokio::join!(upstream, downstream);
}
