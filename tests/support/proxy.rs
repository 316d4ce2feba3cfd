//! A TCP proxy on loopback between a store and a `redis-server`, to play what a network does in
//! production: forward, move the endpoint to another server (a failover behind a stable address),
//! or go silent without a reset (a peer that vanished, a black-holing firewall).
//!
//! Connections already open keep the upstream they were made to: [`Proxy::switch_to`] changes
//! where new connections go, as a moved DNS name or virtual IP does. [`Proxy::black_hole`]
//! silences every open connection for good (bytes are read and dropped, nothing is sent back,
//! nothing is closed) and makes new ones silent too until [`Proxy::forward`] is called again.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// A loopback TCP proxy; stops and closes every connection on drop.
pub struct Proxy {
    port: u16,
    shared: Arc<Shared>,
    acceptor: Option<thread::JoinHandle<()>>,
}

struct Shared {
    upstream: AtomicU16,
    /// Connections made in an epoch below this one are silent.
    silent_below: AtomicU64,
    /// Bumped by every `black_hole`; a connection remembers the epoch it was accepted in.
    epoch: AtomicU64,
    /// While set, new connections are accepted and left silent.
    holing: AtomicBool,
    stop: AtomicBool,
    sockets: Mutex<Vec<TcpStream>>,
}

impl Proxy {
    /// A proxy on a free loopback port that forwards to `127.0.0.1:<upstream>`.
    pub fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind the proxy");
        listener
            .set_nonblocking(true)
            .expect("non-blocking proxy listener");
        let port = listener.local_addr().expect("proxy address").port();
        let shared = Arc::new(Shared {
            upstream: AtomicU16::new(upstream),
            silent_below: AtomicU64::new(0),
            epoch: AtomicU64::new(0),
            holing: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            sockets: Mutex::new(Vec::new()),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || accept_loop(listener, shared))
        };
        Proxy {
            port,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// The port the proxy listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<proxy port>`, with `path` appended (`""` or `"/1"`).
    pub fn url(&self, path: &str) -> String {
        format!("redis://127.0.0.1:{}{path}", self.port)
    }

    /// New connections go to `127.0.0.1:<upstream>` from now on; open ones keep theirs.
    pub fn switch_to(&self, upstream: u16) {
        self.shared.upstream.store(upstream, Ordering::SeqCst);
    }

    /// Every open connection goes silent for good, and new ones are accepted and left silent
    /// until [`Proxy::forward`].
    pub fn black_hole(&self) {
        self.shared.holing.store(true, Ordering::SeqCst);
        let epoch = self.shared.epoch.fetch_add(1, Ordering::SeqCst) + 1;
        self.shared.silent_below.store(epoch, Ordering::SeqCst);
    }

    /// New connections are forwarded again; connections silenced before stay silent.
    pub fn forward(&self) {
        self.shared.holing.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        let sockets = std::mem::take(&mut *self.shared.sockets.lock().unwrap());
        for socket in sockets {
            let _ = socket.shutdown(Shutdown::Both);
        }
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    while !shared.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((client, _)) => {
                let _ = client.set_nonblocking(false);
                let _ = client.set_nodelay(true);
                remember(&shared, &client);
                let epoch = shared.epoch.load(Ordering::SeqCst);
                if shared.holing.load(Ordering::SeqCst) {
                    // Accepted, then nothing: read and drop whatever the client sends.
                    let shared = Arc::clone(&shared);
                    thread::spawn(move || pump(client, None, u64::MAX, shared));
                    continue;
                }
                let addr =
                    SocketAddr::from((Ipv4Addr::LOCALHOST, shared.upstream.load(Ordering::SeqCst)));
                let Ok(server) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                let _ = server.set_nodelay(true);
                remember(&shared, &server);
                let (Ok(client2), Ok(server2)) = (client.try_clone(), server.try_clone()) else {
                    continue;
                };
                let up = Arc::clone(&shared);
                thread::spawn(move || pump(client, Some(server), epoch, up));
                let down = Arc::clone(&shared);
                thread::spawn(move || pump(server2, Some(client2), epoch, down));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(5));
            }
            Err(_) => thread::sleep(Duration::from_millis(5)),
        }
    }
}

fn remember(shared: &Shared, socket: &TcpStream) {
    if let Ok(clone) = socket.try_clone() {
        shared.sockets.lock().unwrap().push(clone);
    }
}

/// Copies `from` to `to` until either side closes, dropping the bytes once the connection's
/// `epoch` has been silenced (or always, without a `to`).
fn pump(mut from: TcpStream, mut to: Option<TcpStream>, epoch: u64, shared: Arc<Shared>) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let silent = epoch < shared.silent_below.load(Ordering::SeqCst);
        if let Some(to) = to.as_mut().filter(|_| !silent) {
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
    }
    // A silenced connection stays open (no FIN, no RST) until the proxy is dropped.
    let silent = epoch < shared.silent_below.load(Ordering::SeqCst);
    if !silent {
        if let Some(to) = to {
            let _ = to.shutdown(Shutdown::Both);
        }
    }
}
