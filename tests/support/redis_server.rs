//! A throwaway `redis-server` for one test: started on a free loopback port, killed on drop.
//!
//! The harness speaks RESP itself over a blocking socket (see [`RedisServer::cmd`]) so that what
//! the tests check about Redis does not go through the client library under test.
//!
//! Every server also listens on a unix socket ([`RedisServer::unix_socket`]); one started with
//! [`RedisServer::start_tls`] listens on a second port for TLS ([`RedisServer::tls_port`]).
//!
//! Without a `redis-server` binary, [`RedisServer::start`] prints a notice and returns `None`
//! (the test skips), except under CI (`CI=true`), where it panics so the run fails.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// How long a server gets to answer `PING` after it was spawned.
const READY_WITHIN: Duration = Duration::from_secs(10);
/// Attempts at finding a free port (another process may take the one we picked).
const PORT_ATTEMPTS: u32 = 5;

/// A `redis-server` child process on `127.0.0.1:<port>`.
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
    dir: PathBuf,
    auth: Option<(Option<String>, String)>,
    tls: Option<TlsListener>,
}

/// The TLS side of a server: its port and where its certificate, key and CA are.
struct TlsListener {
    port: u16,
    dir: PathBuf,
    /// Whether the server asks clients for a certificate signed by its CA (mutual TLS).
    auth_clients: bool,
}

/// A RESP reply, as read by [`RedisServer::cmd`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+OK` and the like.
    Status(String),
    /// `-ERR ...`.
    Error(String),
    /// `:42`.
    Int(i64),
    /// `$n` (None for the null bulk string).
    Bulk(Option<Vec<u8>>),
    /// `*n` (None for the null array).
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// The integer of an `Int` reply; panics otherwise.
    pub fn int(&self) -> i64 {
        match self {
            Reply::Int(n) => *n,
            other => panic!("expected an integer reply, got {other:?}"),
        }
    }

    /// The bytes of a bulk reply (None for null); panics otherwise.
    pub fn bulk(&self) -> Option<Vec<u8>> {
        match self {
            Reply::Bulk(b) => b.clone(),
            other => panic!("expected a bulk reply, got {other:?}"),
        }
    }

    /// The text of a status reply; panics otherwise.
    pub fn status(&self) -> String {
        match self {
            Reply::Status(s) => s.clone(),
            other => panic!("expected a status reply, got {other:?}"),
        }
    }
}

impl RedisServer {
    /// Starts a server without password. `None`: no `redis-server` here and not under CI.
    pub fn start() -> Option<RedisServer> {
        RedisServer::start_with_auth(None, None)
    }

    /// Starts a server that also speaks TLS on [`RedisServer::tls_port`], with `server.crt`,
    /// `server.key` and `ca.crt` from `tls_dir` (see `support::tls`). With `auth_clients` it
    /// refuses clients without a certificate signed by that CA. The plain port stays open for
    /// the harness itself.
    pub fn start_tls(tls_dir: &Path, auth_clients: bool) -> Option<RedisServer> {
        let tls = TlsListener {
            port: 0,
            dir: tls_dir.to_owned(),
            auth_clients,
        };
        RedisServer::start_with_auth(None, Some(tls))
    }

    /// Starts a server that requires `password` from the default user (`user` None), or from an
    /// ACL user `user` (the default user is then disabled).
    pub fn start_with_password(user: Option<&str>, password: &str) -> Option<RedisServer> {
        RedisServer::start_with_auth(Some((user.map(str::to_owned), password.to_owned())), None)
    }

    fn start_with_auth(
        auth: Option<(Option<String>, String)>,
        tls: Option<TlsListener>,
    ) -> Option<RedisServer> {
        if !redis_server_available() {
            let ci = std::env::var("CI").map(|v| v == "true").unwrap_or(false);
            if ci {
                panic!(
                    "redis-server is not installed, and CI=true: the Redis tests must run under CI \
                     (.ci/run installs it with apt-get install -y redis-server)"
                );
            }
            eprintln!(
                "NOTICE: redis-server not found on PATH; skipping this Redis test \
                 (install it with `apt-get install -y redis-server`)"
            );
            return None;
        }
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "cachex-redis-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create the server's temp dir");
        let mut server = RedisServer {
            port: 0,
            child: None,
            dir,
            auth,
            tls,
        };
        for _ in 0..PORT_ATTEMPTS {
            server.port = free_port();
            if let Some(tls) = server.tls.as_mut() {
                tls.port = loop {
                    let port = free_port();
                    if port != server.port {
                        break port;
                    }
                };
            }
            if server.spawn_and_wait() {
                return Some(server);
            }
            // Someone took the port between our probe and the server's bind: try another one.
            server.kill();
        }
        panic!(
            "redis-server did not start in {PORT_ATTEMPTS} attempts; its last log:\n{}",
            server.log()
        );
    }

    /// The port the server listens on (127.0.0.1 only).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The TLS port (127.0.0.1 only) of a server started with [`RedisServer::start_tls`].
    pub fn tls_port(&self) -> u16 {
        self.tls
            .as_ref()
            .map(|tls| tls.port)
            .expect("a server started with start_tls")
    }

    /// The unix socket the server also listens on.
    pub fn unix_socket(&self) -> PathBuf {
        self.dir.join(format!("redis-{}.sock", self.port))
    }

    /// `redis://127.0.0.1:<port>`, with the credentials if the server has a password.
    pub fn url(&self) -> String {
        match &self.auth {
            None => format!("redis://127.0.0.1:{}", self.port),
            Some((None, pw)) => format!("redis://:{pw}@127.0.0.1:{}", self.port),
            Some((Some(user), pw)) => format!("redis://{user}:{pw}@127.0.0.1:{}", self.port),
        }
    }

    /// Kills the server (SIGKILL, as in a crash) and waits until it is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the server if it runs, and starts a fresh one (empty) on the same port.
    pub fn restart(&mut self) {
        self.kill();
        // The port was ours a moment ago; a fresh bind can still race with the old socket's
        // teardown, so allow a few tries.
        for _ in 0..PORT_ATTEMPTS {
            if self.spawn_and_wait() {
                return;
            }
            self.kill();
            thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "redis-server did not restart on port {}; its log:\n{}",
            self.port,
            self.log()
        );
    }

    /// Makes the server stop answering for `duration` (`DEBUG SLEEP`), like a hung or overloaded
    /// Redis. Returns once the server is asleep; it wakes by itself.
    pub fn pause(&self, duration: Duration) {
        let mut stream = self.connect().expect("connect to pause the server");
        write_command(
            &mut stream,
            &[
                b"DEBUG",
                b"SLEEP",
                format!("{:.3}", duration.as_secs_f64()).as_bytes(),
            ],
        )
        .expect("send DEBUG SLEEP");
        // Read the reply off the test's path; the socket closes when the thread ends.
        thread::spawn(move || {
            let _ = stream.set_read_timeout(Some(duration + Duration::from_secs(10)));
            let _ = read_reply(&mut BufReader::new(stream));
        });
        // Let the server pick the command up before the test goes on.
        thread::sleep(Duration::from_millis(50));
    }

    /// Sends one command on a fresh connection and returns the reply (an error reply too).
    /// Panics if the server cannot be reached in 5 s.
    pub fn cmd(&self, args: &[&[u8]]) -> Reply {
        let stream = self.connect().expect("connect to the test server");
        let mut reader = BufReader::new(stream);
        write_command(reader.get_mut(), args).expect("send a command");
        read_reply(&mut reader).expect("read a reply")
    }

    /// `cmd` for arguments that are all text.
    pub fn cmd_str(&self, args: &[&str]) -> Reply {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.cmd(&args)
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join(format!("redis-{}.log", self.port))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_else(|e| format!("(no log: {e})"))
    }

    fn connect(&self) -> std::io::Result<TcpStream> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.set_write_timeout(Some(Duration::from_secs(5)))?;
        if let Some((user, pw)) = &self.auth {
            let mut reader = BufReader::new(stream.try_clone()?);
            match user {
                Some(user) => {
                    write_command(reader.get_mut(), &[b"AUTH", user.as_bytes(), pw.as_bytes()])?
                }
                None => write_command(reader.get_mut(), &[b"AUTH", pw.as_bytes()])?,
            }
            match read_reply(&mut reader)? {
                Reply::Status(_) => {}
                other => return Err(std::io::Error::other(format!("AUTH refused: {other:?}"))),
            }
        }
        Ok(stream)
    }

    /// Spawns `redis-server` on `self.port` and waits (bounded) until it answers PING. False when
    /// it exited or did not answer in time.
    fn spawn_and_wait(&mut self) -> bool {
        let mut command = Command::new("redis-server");
        command
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--enable-debug-command", "yes"])
            .args(["--daemonize", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .arg("--logfile")
            .arg(self.log_path())
            .arg("--unixsocket")
            .arg(self.unix_socket())
            .args(["--unixsocketperm", "700"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        match &self.auth {
            None => {}
            Some((None, pw)) => {
                command.args(["--requirepass", pw]);
            }
            Some((Some(user), pw)) => {
                command.args(["--user", "default", "off"]).args([
                    "--user",
                    user,
                    "on",
                    &format!(">{pw}"),
                    "~*",
                    "&*",
                    "+@all",
                ]);
            }
        }
        if let Some(tls) = &self.tls {
            command
                .args(["--tls-port", &tls.port.to_string()])
                .arg("--tls-cert-file")
                .arg(tls.dir.join("server.crt"))
                .arg("--tls-key-file")
                .arg(tls.dir.join("server.key"))
                .arg("--tls-ca-cert-file")
                .arg(tls.dir.join("ca.crt"))
                .args([
                    "--tls-auth-clients",
                    if tls.auth_clients { "yes" } else { "no" },
                ]);
        }
        let child = command.spawn().expect("spawn redis-server");
        self.child = Some(child);

        let deadline = Instant::now() + READY_WITHIN;
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(_status)) = child.try_wait() {
                    self.child = None;
                    return false;
                }
            }
            if self.ping() {
                return true;
            }
            thread::sleep(Duration::from_millis(20));
        }
        false
    }

    fn ping(&self) -> bool {
        let Ok(stream) = self.connect() else {
            return false;
        };
        let mut reader = BufReader::new(stream);
        if write_command(reader.get_mut(), &[b"PING"]).is_err() {
            return false;
        }
        matches!(read_reply(&mut reader), Ok(Reply::Status(s)) if s == "PONG")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn redis_server_available() -> bool {
    Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// A port that was free a moment ago (the OS's pick), never the default 6379 that a Redis of the
/// machine itself may be using.
fn free_port() -> u16 {
    loop {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a probe socket");
        let port = listener.local_addr().expect("probe address").port();
        if port != 6379 {
            return port;
        }
    }
}

fn write_command(stream: &mut TcpStream, args: &[&[u8]]) -> std::io::Result<()> {
    let mut buf = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        buf.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        buf.extend_from_slice(arg);
        buf.extend_from_slice(b"\r\n");
    }
    stream.write_all(&buf)
}

fn read_line(reader: &mut BufReader<TcpStream>) -> std::io::Result<String> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(line.trim_end_matches("\r\n").to_owned())
}

fn read_reply(reader: &mut BufReader<TcpStream>) -> std::io::Result<Reply> {
    let line = read_line(reader)?;
    let (kind, rest) = line.split_at(1.min(line.len()));
    let bad = || std::io::Error::other(format!("bad RESP line {line:?}"));
    let number = |s: &str| s.parse::<i64>().map_err(|_| bad());
    Ok(match kind {
        "+" => Reply::Status(rest.to_owned()),
        "-" => Reply::Error(rest.to_owned()),
        ":" => Reply::Int(number(rest)?),
        "$" => {
            let len = number(rest)?;
            if len < 0 {
                Reply::Bulk(None)
            } else {
                let mut buf = vec![0; len as usize + 2];
                reader.read_exact(&mut buf)?;
                buf.truncate(len as usize);
                Reply::Bulk(Some(buf))
            }
        }
        "*" => {
            let len = number(rest)?;
            if len < 0 {
                Reply::Array(None)
            } else {
                let items = (0..len)
                    .map(|_| read_reply(reader))
                    .collect::<Result<_, _>>()?;
                Reply::Array(Some(items))
            }
        }
        _ => return Err(bad()),
    })
}
