//! A TCP proxy on 127.0.0.1 that drops connections on demand: the dropped connection a crashed load
//! balancer or a reset NAT entry leaves, which no HTTP-level sandbox knob can produce.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Sits in front of a server: the first `drops` connections it accepts are closed before the client gets
/// an answer; later ones are passed through to the server untouched.
pub struct DroppingProxy {
    address: std::net::SocketAddr,
    accepted: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl DroppingProxy {
    /// A proxy in front of `target` (a base URL such as `http://127.0.0.1:4000`) that closes each of the
    /// first `drops` connections once the request has arrived, without passing it on: the server never
    /// sees it.
    pub async fn start(target: &str, drops: usize) -> Self {
        Self::with_drop(target, drops, Cut::BeforeTheServer).await
    }

    /// A proxy in front of `target` that passes each of the first `drops` requests on, waits until the
    /// server has answered (so the server did act on it), and closes the connection without handing the
    /// answer back: the case where a retry can do something twice.
    pub async fn losing_answers(target: &str, drops: usize) -> Self {
        Self::with_drop(target, drops, Cut::AfterTheServerAnswered).await
    }

    async fn with_drop(target: &str, drops: usize, how: Cut) -> Self {
        let target = url::Url::parse(target).expect("a base URL");
        let upstream = format!(
            "{}:{}",
            target.host_str().expect("a host"),
            target.port_or_known_default().expect("a port")
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let address = listener.local_addr().expect("a bound address");
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let seen = counter.fetch_add(1, Ordering::SeqCst);
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    match how {
                        _ if seen >= drops => pass_through(client, &upstream).await,
                        Cut::BeforeTheServer => drop_after_request(client).await,
                        Cut::AfterTheServerAnswered => lose_answer(client, &upstream).await,
                    }
                });
            }
        });
        Self {
            address,
            accepted,
            task,
        }
    }

    /// The base URL to give the client instead of the server's.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// How many connections the proxy has accepted, dropped ones included.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// Where a dropped connection is cut.
#[derive(Clone, Copy)]
enum Cut {
    BeforeTheServer,
    AfterTheServerAnswered,
}

impl Drop for DroppingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Waits until the request (or its first part) has arrived, then closes the connection unanswered: the
/// client cannot tell whether the server acted on it.
async fn drop_after_request(mut client: TcpStream) {
    let mut buffer = [0_u8; 4096];
    let _ = client.read(&mut buffer).await;
}

/// Passes the request on and closes both connections as soon as the server starts answering.
async fn lose_answer(client: TcpStream, upstream: &str) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (mut from_client, _to_client) = client.into_split();
    let (mut from_server, mut to_server) = server.into_split();
    let forward = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut from_client, &mut to_server).await;
    });
    let mut first_byte = [0_u8; 1];
    let _ = from_server.read(&mut first_byte).await;
    forward.abort();
}

async fn pass_through(mut client: TcpStream, upstream: &str) {
    if let Ok(mut server) = TcpStream::connect(upstream).await {
        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
    }
}
