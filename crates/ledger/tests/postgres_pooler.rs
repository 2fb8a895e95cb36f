//! The PostgreSQL run lock behind a connection pooler: refused through `PgBouncer` in
//! transaction mode (where a session advisory lock cannot hold), taken through session mode.
//!
//! Ignored by default; run with `HERALD_TEST_POSTGRES_URL` (e.g.
//! `postgres://postgres@127.0.0.1:5432/test`, trust authentication) and
//! `HERALD_TEST_PGBOUNCER` (the `pgbouncer` binary) and `-- --include-ignored`, as `.ci/run`
//! does. The test starts its own `PgBouncer` on a free local port, in front of that server.
#![cfg(feature = "postgres")]

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::str::FromStr as _;
use std::time::{Duration, Instant};

use herald_ledger::{LockError, LockInfo, PgRunLock};
use jiff::Timestamp;

const URL_ENV: &str = "HERALD_TEST_POSTGRES_URL";
const PGBOUNCER_ENV: &str = "HERALD_TEST_PGBOUNCER";

fn env(name: &str, example: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v,
        _ => panic!("{name} is not set: this test needs it (e.g. {example})"),
    }
}

/// A `PgBouncer` in front of the test server, killed on drop, with two databases: `tx`
/// (`pool_mode=transaction`) and `session` (`pool_mode=session`), both on `schema`.
struct Bouncer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Bouncer {
    fn start(schema: &str) -> Bouncer {
        let bin = env(PGBOUNCER_ENV, "/usr/sbin/pgbouncer");
        let server =
            postgres::Config::from_str(&env(URL_ENV, "postgres://postgres@127.0.0.1:5432/test"))
                .unwrap();
        let host = match server.get_hosts().first() {
            Some(postgres::config::Host::Tcp(h)) => h.clone(),
            _ => "127.0.0.1".to_owned(),
        };
        let port = server.get_ports().first().copied().unwrap_or(5432);
        let user = server.get_user().unwrap_or("postgres").to_owned();
        let db = server.get_dbname().unwrap_or("postgres").to_owned();

        let dir = tempfile::tempdir().unwrap();
        // PgBouncer refuses to run as root: it then runs as `nobody`, who must read these.
        set_mode(dir.path(), 0o755);
        let listen = TcpListener::bind("127.0.0.1:0").unwrap();
        let bouncer_port = listen.local_addr().unwrap().port();
        drop(listen);
        let target = format!(
            "host={host} port={port} dbname={db} user={user} \
             connect_query='SET search_path = {schema}'"
        );
        let ini = format!(
            "[databases]\n\
             tx = {target} pool_mode=transaction\n\
             session = {target} pool_mode=session\n\
             [pgbouncer]\n\
             listen_addr = 127.0.0.1\n\
             listen_port = {bouncer_port}\n\
             unix_socket_dir =\n\
             auth_type = trust\n\
             auth_file = {auth}\n\
             server_round_robin = 1\n\
             default_pool_size = 4\n\
             ignore_startup_parameters = extra_float_digits,options\n",
            auth = dir.path().join("users.txt").display(),
        );
        for (name, text) in [
            ("users.txt", format!("\"{user}\" \"\"\n")),
            ("pgbouncer.ini", ini),
        ] {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            set_mode(&p, 0o644);
        }
        let mut cmd = Command::new(&bin);
        if is_root() {
            cmd.args(["-u", "nobody"]);
        }
        let child = cmd
            .arg(dir.path().join("pgbouncer.ini"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", bouncer_port)).is_err() {
            assert!(Instant::now() < deadline, "PgBouncer did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Bouncer {
            child,
            port: bouncer_port,
            _dir: dir,
        }
    }

    fn url(&self, db: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{db}?sslmode=disable",
            self.port
        )
    }
}

impl Drop for Bouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

fn info() -> LockInfo {
    LockInfo {
        pid: std::process::id(),
        host: "host".into(),
        run_id: "run-pooled".into(),
        started_at: Timestamp::now(),
        command: "apply".into(),
    }
}

#[test]
#[ignore = "needs PostgreSQL and PgBouncer: set HERALD_TEST_POSTGRES_URL and HERALD_TEST_PGBOUNCER"]
fn the_run_lock_is_refused_through_transaction_pooling_and_taken_through_session_pooling() {
    let base = env(URL_ENV, "postgres://postgres@127.0.0.1:5432/test");
    let schema = format!("herald_test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = postgres::Client::connect(&base, postgres::NoTls).unwrap();
    admin
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .unwrap();
    let bouncer = Bouncer::start(&schema);

    // Open several server connections in the transaction pool (each client holds one while
    // its transaction is open), so consecutive transactions of one client land on
    // different server sessions, as they do on a busy pooler.
    let mut warm: Vec<postgres::Client> = (0..3)
        .map(|_| postgres::Client::connect(&bouncer.url("tx"), postgres::NoTls).unwrap())
        .collect();
    for c in &mut warm {
        c.batch_execute("BEGIN; SELECT 1").unwrap();
    }
    for c in &mut warm {
        c.batch_execute("COMMIT").unwrap();
    }
    drop(warm);

    match PgRunLock::acquire(&bouncer.url("tx"), info(), None) {
        Err(e @ LockError::Session { .. }) => {
            let text = e.to_string();
            assert!(text.contains("next statement ran in session"), "{text}");
            assert!(text.contains("PgBouncer pool_mode=transaction"), "{text}");
            assert!(text.contains("127.0.0.1"), "{text}");
        }
        Err(e) => panic!("expected the session check to refuse the lock, got: {e}"),
        Ok(_) => panic!("the run lock was taken through a transaction-pooling proxy"),
    }
    // The refused attempt ended the pooled session it had locked in: the lock is free.
    let session_url = bouncer.url("session");
    let lock = PgRunLock::acquire(&session_url, info(), Some(Duration::from_secs(5))).unwrap();
    assert_eq!(lock.schema(), schema);
    drop(lock);
    drop(bouncer);
    admin
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .unwrap();
}
