//! TLS to PostgreSQL: `sslmode` and `sslrootcert` against a real server, with a CA and a
//! server certificate (for `localhost`, `127.0.0.1` and `::1`) that the test generates.
//!
//! Ignored by default; run with `HERALD_TEST_POSTGRES_URL` (a superuser, e.g.
//! `postgres://postgres@127.0.0.1:5432/test`) and `-- --include-ignored`, as `.ci/run` does.
//! The first test to run installs the generated certificate on that server: it writes the
//! certificate and key into the server's data directory with `COPY … TO` (so the files belong
//! to the server's own user, the key readable by it alone, whoever runs the test), points
//! `ssl_cert_file` / `ssl_key_file` at them with `ALTER SYSTEM`, turns `ssl` on and reloads
//! the configuration. The files stay there, so the server still starts after a restart.
#![cfg(feature = "postgres")]

use std::path::PathBuf;
use std::str::FromStr as _;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use herald_ledger::{LedgerError, LedgerKey, LockInfo, PgRunLock, PostgresLedger};
use jiff::Timestamp;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};

const URL_ENV: &str = "HERALD_TEST_POSTGRES_URL";

fn server() -> String {
    match std::env::var(URL_ENV) {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "{URL_ENV} is not set: the PostgreSQL TLS tests need a server and a superuser \
             (e.g. postgres://postgres@127.0.0.1:5432/test)"
        ),
    }
}

fn admin() -> postgres::Client {
    postgres::Client::connect(&server(), postgres::NoTls).unwrap_or_else(|e| {
        panic!("{URL_ENV} is set but the PostgreSQL server cannot be reached: {e}")
    })
}

/// The CA files the tests trust, once the server presents the matching certificate.
struct Pki {
    /// The CA that signed the server's certificate.
    ca: PathBuf,
    /// A CA that signed nothing the server has.
    wrong_ca: PathBuf,
}

fn new_ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

/// Writes `text` to `path` on the server, as the server's user and readable by it alone:
/// `COPY (SELECT unnest(ARRAY[…lines…])) TO PROGRAM 'cat > … && chmod 600 …'` (a plain
/// `COPY … TO 'file'` leaves the file world-readable, and the server refuses such a key).
fn server_write(c: &mut postgres::Client, path: &str, text: &str) {
    assert!(
        !path.contains('\'') && !path.contains('"'),
        "unexpected quote in {path}"
    );
    let lines: Vec<String> = text
        .lines()
        .map(|l| {
            // PEM lines need no escaping in COPY's text format nor in a SQL literal.
            assert!(
                l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+/=- ".contains(&b)),
                "{l}"
            );
            format!("'{l}'")
        })
        .collect();
    let program = format!(
        "umask 077 && cat > \"{path}.tmp\" && chmod 600 \"{path}.tmp\" && mv \"{path}.tmp\" \"{path}\""
    );
    c.batch_execute(&format!(
        "COPY (SELECT unnest(ARRAY[{}]::text[])) TO PROGRAM '{program}'",
        lines.join(",")
    ))
    .unwrap_or_else(|e| {
        panic!(
            "writing {path} on the server (needs a superuser): {}",
            chain(&e)
        )
    });
}

/// An error with all its causes, as `a: b: c`.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("postgres-tls-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca = new_ca("herald test CA");
        let wrong = new_ca("herald test CA (wrong)");
        let mut params = CertificateParams::new(vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ])
        .unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &ca).unwrap();

        let mut c = admin();
        let data_dir: String = c.query_one("SHOW data_directory", &[]).unwrap().get(0);
        let crt_file = format!("{data_dir}/herald-test-server.crt");
        let key_file = format!("{data_dir}/herald-test-server.key");
        server_write(&mut c, &crt_file, &format!("{}{}", cert.pem(), ca.pem()));
        server_write(&mut c, &key_file, &key.serialize_pem());
        // One statement at a time: ALTER SYSTEM refuses to run in a transaction block.
        for statement in [
            format!("ALTER SYSTEM SET ssl_cert_file = '{crt_file}'"),
            format!("ALTER SYSTEM SET ssl_key_file = '{key_file}'"),
            "ALTER SYSTEM SET ssl = on".to_owned(),
            "SELECT pg_reload_conf()".to_owned(),
        ] {
            c.batch_execute(&statement).unwrap();
        }

        let pki = Pki {
            ca: dir.join("ca.pem"),
            wrong_ca: dir.join("wrong-ca.pem"),
        };
        std::fs::write(&pki.ca, ca.pem()).unwrap();
        std::fs::write(&pki.wrong_ca, wrong.pem()).unwrap();
        // The reload is asynchronous: wait until the server presents the new certificate.
        let probe = url(
            "127.0.0.1",
            &[("sslmode", "verify-full"), ("sslrootcert", &path(&pki.ca))],
        );
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            match connect(&probe) {
                Ok(_) => break,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!(
                    "the server did not take the generated certificate (see its log; \
                     ssl_cert_file={crt_file}): {}",
                    chain(&e)
                ),
            }
        }
        pki
    })
}

fn path(p: &std::path::Path) -> String {
    p.to_str().unwrap().replace('%', "%25").replace(' ', "%20")
}

/// The server's URL with `host` and the query `params`, plus a fresh schema search path.
fn url(host: &str, params: &[(&str, &str)]) -> String {
    let base = postgres::Config::from_str(&server()).unwrap();
    let port = base.get_ports().first().copied().unwrap_or(5432);
    let user = base.get_user().unwrap_or("postgres");
    let db = base.get_dbname().unwrap_or("postgres");
    let mut query: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    query.push(format!("application_name={}", app_name()));
    format!("postgres://{user}@{host}:{port}/{db}?{}", query.join("&"))
}

thread_local! {
    static APP: String = format!("herald_tls_{}", uuid::Uuid::new_v4().simple());
}

/// A name unique to this test thread, to find its sessions in `pg_stat_ssl`.
fn app_name() -> String {
    APP.with(Clone::clone)
}

/// A private schema for this thread's ledger, dropped on drop.
struct Schema(String);

impl Schema {
    fn new() -> Schema {
        let name = format!("herald_test_{}", uuid::Uuid::new_v4().simple());
        admin()
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .unwrap();
        Schema(name)
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let _ = admin().batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.0));
    }
}

fn key() -> LedgerKey {
    LedgerKey::from_secret("28baf7906fef728df014749cc7ce4cd7bd433c8a56b2a9d693cf931f34123be8")
        .unwrap()
}

/// Opens a ledger at `url` (in a fresh schema) and reports whether its session is encrypted.
fn connect(url: &str) -> Result<bool, LedgerError> {
    let schema = Schema::new();
    let url = format!("{url}&options=-csearch_path%3D{}", schema.0);
    let ledger = PostgresLedger::connect(&url, &key())?;
    let ssl: Vec<bool> = admin()
        .query(
            "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.application_name = $1",
            &[&app_name()],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    drop(ledger);
    assert_eq!(ssl.len(), 1, "one ledger session expected: {ssl:?}");
    Ok(ssl[0])
}

fn tls_error(result: Result<bool, LedgerError>) -> String {
    match result {
        Ok(_) => panic!("the connection should have been refused"),
        Err(e) => chain(&e),
    }
}

#[test]
#[ignore = "needs PostgreSQL: set HERALD_TEST_POSTGRES_URL and run with --include-ignored"]
fn verify_full_connects_with_the_right_ca_over_tls() {
    let pki = pki();
    for host in ["127.0.0.1", "localhost"] {
        let u = url(
            host,
            &[("sslmode", "verify-full"), ("sslrootcert", &path(&pki.ca))],
        );
        assert!(connect(&u).unwrap(), "{host}: the session is not encrypted");
    }
}

#[test]
#[ignore = "needs PostgreSQL: set HERALD_TEST_POSTGRES_URL and run with --include-ignored"]
fn verify_full_and_verify_ca_refuse_a_certificate_from_another_ca() {
    let pki = pki();
    for mode in ["verify-full", "verify-ca", "require"] {
        // `require` with a root certificate checks the chain, as in libpq.
        let u = url(
            "127.0.0.1",
            &[("sslmode", mode), ("sslrootcert", &path(&pki.wrong_ca))],
        );
        let e = tls_error(connect(&u));
        assert!(e.contains("invalid peer certificate"), "{mode}: {e}");
        assert!(e.contains("UnknownIssuer"), "{mode}: {e}");
    }
}

#[test]
#[ignore = "needs PostgreSQL: set HERALD_TEST_POSTGRES_URL and run with --include-ignored"]
fn verify_full_refuses_a_host_name_the_certificate_does_not_name_and_verify_ca_accepts_it() {
    let pki = pki();
    // Dial the right server under a name its certificate does not carry.
    let with = |mode| {
        url(
            "db.herald-test.invalid",
            &[
                ("hostaddr", "127.0.0.1"),
                ("sslmode", mode),
                ("sslrootcert", &path(&pki.ca)),
            ],
        )
    };
    let e = tls_error(connect(&with("verify-full")));
    assert!(e.contains("not valid for name"), "{e}");
    assert!(e.contains("db.herald-test.invalid"), "{e}");
    assert!(connect(&with("verify-ca")).unwrap());
}

#[test]
#[ignore = "needs PostgreSQL: set HERALD_TEST_POSTGRES_URL and run with --include-ignored"]
fn require_encrypts_without_a_ca_and_disable_does_not() {
    pki();
    assert!(connect(&url("127.0.0.1", &[("sslmode", "require")])).unwrap());
    assert!(!connect(&url("127.0.0.1", &[("sslmode", "disable")])).unwrap());
    // No sslmode on a loopback address: prefer, so TLS when the server offers it.
    assert!(connect(&url("127.0.0.1", &[])).unwrap());
}

#[test]
#[ignore = "needs PostgreSQL: set HERALD_TEST_POSTGRES_URL and run with --include-ignored"]
fn the_run_lock_connects_with_the_same_tls_and_refuses_the_wrong_ca() {
    let pki = pki();
    let schema = Schema::new();
    let info = LockInfo {
        pid: std::process::id(),
        host: "host".into(),
        run_id: "run-tls".into(),
        started_at: Timestamp::now(),
        command: "apply".into(),
    };
    let with = |ca: &PathBuf| {
        format!(
            "{}&options=-csearch_path%3D{}",
            url(
                "localhost",
                &[("sslmode", "verify-full"), ("sslrootcert", &path(ca))]
            ),
            schema.0
        )
    };
    let e = chain(&PgRunLock::acquire(&with(&pki.wrong_ca), info.clone(), None).unwrap_err());
    assert!(e.contains("UnknownIssuer"), "{e}");
    let lock = PgRunLock::acquire(&with(&pki.ca), info, None).unwrap();
    assert_eq!(
        PgRunLock::holder(&with(&pki.ca)).unwrap().unwrap().run_id,
        "run-tls"
    );
    drop(lock);
}
