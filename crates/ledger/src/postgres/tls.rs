//! TLS for PostgreSQL connections: libpq's `sslmode` and `sslrootcert`, with rustls.
//!
//! Owns: taking `sslmode` / `sslrootcert` out of a connection string (the driver knows only
//! `disable`, `prefer` and `require`), choosing the mode when none is given, loading the root
//! certificates and building the rustls verifier each mode calls for. Invariants: each mode
//! verifies what it verifies in libpq (<https://www.postgresql.org/docs/current/libpq-ssl.html>):
//!
//! | `sslmode`     | encrypted        | certificate chain checked          | host name checked |
//! |---------------|------------------|------------------------------------|-------------------|
//! | `disable`     | no               | —                                  | —                 |
//! | `prefer`      | if the server can | only when a root certificate is set | no               |
//! | `require`     | yes              | only when a root certificate is set | no                |
//! | `verify-ca`   | yes              | yes                                | no                |
//! | `verify-full` | yes              | yes                                | yes               |
//!
//! The root certificates are `sslrootcert` (a PEM file, or `system` for the operating
//! system's trust store, which implies `verify-full` as in libpq) or else libpq's default
//! `~/.postgresql/root.crt` when it exists. Without `sslmode`, herald uses `require` for a
//! server reached over the network and `prefer` for one on this machine (loopback address,
//! `localhost` or a Unix socket): a ledger never falls back to plaintext across a network,
//! where libpq's default (`prefer`) would. `allow` (plaintext first) and client certificates
//! are refused with a clear message rather than ignored.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use postgres::config::{Host, SslMode as DriverMode};
use postgres::{Client, Config, NoTls};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::{LedgerError, Result};

/// An `sslmode`, with libpq's meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Result<SslMode> {
        Ok(match value {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            "allow" => {
                return Err(LedgerError::Backend(
                    "sslmode=allow is not supported (it tries plaintext first): use require, \
                     verify-ca or verify-full, or disable"
                        .to_owned(),
                ));
            }
            other => {
                return Err(LedgerError::Backend(format!(
                    "sslmode={other} is not a valid sslmode (disable, prefer, require, verify-ca, \
                     verify-full)"
                )));
            }
        })
    }

    /// The libpq name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// Where the trusted root certificates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RootCert {
    /// A PEM file named by `sslrootcert`; it must exist.
    File(PathBuf),
    /// `sslrootcert=system`: the operating system's trust store.
    System,
}

/// The TLS options of a connection string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TlsOptions {
    /// `sslmode`, if given.
    pub(crate) mode: Option<SslMode>,
    /// `sslrootcert`, if given.
    pub(crate) root_cert: Option<RootCert>,
}

/// Options the driver does not know and herald does not support, refused by name.
const UNSUPPORTED: &[&str] = &["sslcert", "sslkey", "sslpassword", "sslcrl", "sslcrldir"];

impl TlsOptions {
    fn set(&mut self, key: &str, value: &str) -> Result<bool> {
        match key {
            "sslmode" => self.mode = Some(SslMode::parse(value)?),
            "sslrootcert" if value == "system" => self.root_cert = Some(RootCert::System),
            "sslrootcert" if value.is_empty() => self.root_cert = None,
            "sslrootcert" => self.root_cert = Some(RootCert::File(PathBuf::from(value))),
            k if UNSUPPORTED.contains(&k) => {
                return Err(LedgerError::Backend(format!(
                    "the PostgreSQL option {k} is not supported: herald does not send client \
                     certificates (use password authentication over sslmode=verify-full)"
                )));
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The mode in force: the one given, or herald's default for these hosts.
    pub(crate) fn effective_mode(&self, config: &Config) -> Result<SslMode> {
        match (self.mode, &self.root_cert) {
            (None, Some(RootCert::System)) => Ok(SslMode::VerifyFull),
            (Some(m), Some(RootCert::System)) if m != SslMode::VerifyFull => {
                Err(LedgerError::Backend(format!(
                    "sslrootcert=system needs sslmode=verify-full (not {})",
                    m.name()
                )))
            }
            (Some(m), _) => Ok(m),
            (None, _) if all_local(config) => Ok(SslMode::Prefer),
            (None, _) => Ok(SslMode::Require),
        }
    }
}

/// Whether every host of `config` is this machine (loopback, `localhost`, a Unix socket).
fn all_local(config: &Config) -> bool {
    let addrs_local = config.get_hostaddrs().iter().all(IpAddr::is_loopback);
    let hosts_local = config.get_hosts().iter().all(|h| match h {
        Host::Unix(_) => true,
        Host::Tcp(name) => {
            name.eq_ignore_ascii_case("localhost")
                || name
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
    });
    // With `hostaddr`, the addresses are what is dialled; the host names only name them.
    if config.get_hostaddrs().is_empty() {
        hosts_local
    } else {
        addrs_local
    }
}

/// Splits the TLS options out of a connection string (URL or `key=value` form), returning
/// the string the driver parses and the options.
pub(crate) fn split_options(conn: &str) -> Result<(String, TlsOptions)> {
    let mut options = TlsOptions::default();
    if conn.starts_with("postgres://") || conn.starts_with("postgresql://") {
        let Some((base, query)) = conn.split_once('?') else {
            return Ok((conn.to_owned(), options));
        };
        let mut kept = Vec::new();
        for param in query.split('&') {
            let (key, value) = param.split_once('=').unwrap_or((param, ""));
            if !options.set(&percent_decode(key)?, &percent_decode(value)?)? {
                kept.push(param);
            }
        }
        let rest = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        return Ok((rest, options));
    }
    let mut rest = String::with_capacity(conn.len());
    for (key, value, raw) in key_values(conn)? {
        if !options.set(&key, &value)? {
            if !rest.is_empty() {
                rest.push(' ');
            }
            rest.push_str(raw);
        }
    }
    Ok((rest, options))
}

fn percent_decode(s: &str) -> Result<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            let Some(byte) = hex else {
                return Err(LedgerError::Backend(
                    "the PostgreSQL URL is not valid (a bad %-escape in its query)".to_owned(),
                ));
            };
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| {
        LedgerError::Backend("the PostgreSQL URL is not valid (its query is not UTF-8)".to_owned())
    })
}

/// The `key = value` pairs of a libpq keyword/value string, each with its source text.
fn key_values(conn: &str) -> Result<Vec<(String, String, &str)>> {
    let invalid =
        || LedgerError::Backend("the PostgreSQL connection string is not valid".to_owned());
    let b = conn.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i == b.len() {
            return Ok(out);
        }
        let start = i;
        while i < b.len() && b[i] != b'=' && !b[i].is_ascii_whitespace() {
            i += 1;
        }
        let key = conn[start..i].to_owned();
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if b.get(i) != Some(&b'=') {
            return Err(invalid());
        }
        i += 1;
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut value = Vec::new();
        let quoted = b.get(i) == Some(&b'\'');
        if quoted {
            i += 1;
        }
        loop {
            match b.get(i) {
                None if quoted => return Err(invalid()),
                None => break,
                Some(b'\'') if quoted => {
                    i += 1;
                    break;
                }
                Some(c) if !quoted && c.is_ascii_whitespace() => break,
                Some(b'\\') => {
                    value.push(*b.get(i + 1).ok_or_else(invalid)?);
                    i += 2;
                }
                Some(c) => {
                    value.push(*c);
                    i += 1;
                }
            }
        }
        let value = String::from_utf8(value).map_err(|_| invalid())?;
        out.push((key, value, &conn[start..i]));
    }
}

/// How to connect: without TLS, or with rustls and the driver's mode for it.
#[derive(Clone)]
pub(crate) enum Tls {
    Off,
    On(DriverMode, MakeRustlsConnect),
}

impl Tls {
    /// Builds the connector for `options` (loading the root certificates now, so a missing
    /// file is told before any connection is tried).
    pub(crate) fn new(options: &TlsOptions, config: &Config) -> Result<Tls> {
        let mode = options.effective_mode(config)?;
        if mode == SslMode::Disable {
            return Ok(Tls::Off);
        }
        let roots = match &options.root_cert {
            Some(RootCert::File(path)) => Some(load_file(path)?),
            Some(RootCert::System) => Some(load_system()?),
            None => match default_root_file() {
                Some(path) if path.is_file() => Some(load_file(&path)?),
                _ => None,
            },
        };
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier: Arc<dyn ServerCertVerifier> = match (mode, roots) {
            (SslMode::VerifyCa | SslMode::VerifyFull, None) => {
                return Err(LedgerError::Backend(format!(
                    "sslmode={} needs the server's CA certificate: add sslrootcert=<PEM file> \
                     (or sslrootcert=system for a publicly trusted server) to the URL",
                    mode.name()
                )));
            }
            (SslMode::VerifyFull, Some(roots)) => {
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| tls_error(&format!("cannot use the root certificates: {e}")))?
            }
            (_, roots) => Arc::new(ChainOnly {
                roots: roots.map(Arc::new),
                algorithms: provider.signature_verification_algorithms,
            }),
        };
        let client = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_error(&e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        let driver = if mode == SslMode::Prefer {
            DriverMode::Prefer
        } else {
            DriverMode::Require
        };
        Ok(Tls::On(driver, MakeRustlsConnect::new(client)))
    }

    /// Connects with `config` (whose `sslmode` this sets).
    pub(crate) fn connect(
        &self,
        config: &mut Config,
    ) -> std::result::Result<Client, postgres::Error> {
        match self {
            Tls::Off => config.ssl_mode(DriverMode::Disable).connect(NoTls),
            Tls::On(mode, connector) => config.ssl_mode(*mode).connect(connector.clone()),
        }
    }
}

fn tls_error(message: &str) -> LedgerError {
    LedgerError::Backend(format!("PostgreSQL TLS: {message}"))
}

/// libpq's default root certificate file, `~/.postgresql/root.crt`.
fn default_root_file() -> Option<PathBuf> {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
    Some(Path::new(&home).join(".postgresql").join("root.crt"))
}

fn load_file(path: &Path) -> Result<RootCertStore> {
    let shown = path.display();
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(Iterator::collect::<std::result::Result<Vec<_>, _>>)
        .map_err(|e| tls_error(&format!("cannot read sslrootcert {shown}: {e}")))?;
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(tls_error(&format!(
            "sslrootcert {shown} holds no usable PEM certificate"
        )));
    }
    Ok(roots)
}

fn load_system() -> Result<RootCertStore> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(found.certs);
    if roots.is_empty() {
        return Err(tls_error(
            "sslrootcert=system: no trusted certificate found in the system's store",
        ));
    }
    Ok(roots)
}

/// Checks the server certificate's chain against `roots` (if any) but not its host name:
/// `verify-ca`, and `prefer` / `require` given a root certificate; with no roots,
/// `prefer` / `require` accept any certificate, as libpq does. The handshake signature is
/// always checked, so the server holds the key of the certificate it shows.
#[derive(Debug)]
struct ChainOnly {
    roots: Option<Arc<RootCertStore>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        if let Some(roots) = &self.roots {
            let cert = ParsedCertificate::try_from(end_entity)?;
            rustls::client::verify_server_cert_signed_by_trust_anchor(
                &cert,
                roots,
                intermediates,
                now,
                self.algorithms.all,
            )?;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr as _;

    use super::*;

    fn split(conn: &str) -> (String, TlsOptions) {
        split_options(conn).unwrap()
    }

    #[test]
    fn takes_the_tls_options_out_of_a_url_and_keeps_the_rest() {
        let (rest, o) = split(
            "postgres://u:pw@db.example:5432/x?sslmode=verify-full&options=-csearch_path%3Dp\
             &sslrootcert=%2Fetc%2Fca%20dir%2Fca.pem",
        );
        assert_eq!(
            rest,
            "postgres://u:pw@db.example:5432/x?options=-csearch_path%3Dp"
        );
        assert_eq!(o.mode, Some(SslMode::VerifyFull));
        assert_eq!(
            o.root_cert,
            Some(RootCert::File(PathBuf::from("/etc/ca dir/ca.pem")))
        );
        let (rest, o) = split("postgres://u@h/x?sslmode=disable");
        assert_eq!(rest, "postgres://u@h/x");
        assert_eq!(o.mode, Some(SslMode::Disable));
        let (rest, o) = split("postgres://u@h/x");
        assert_eq!(rest, "postgres://u@h/x");
        assert_eq!(o, TlsOptions::default());
    }

    #[test]
    fn takes_the_tls_options_out_of_a_key_value_string() {
        let (rest, o) = split(
            "host=db.example sslmode = verify-ca password='a b\\'c' sslrootcert='/x/my ca.pem'",
        );
        assert_eq!(rest, "host=db.example password='a b\\'c'");
        assert_eq!(o.mode, Some(SslMode::VerifyCa));
        assert_eq!(
            o.root_cert,
            Some(RootCert::File(PathBuf::from("/x/my ca.pem")))
        );
        assert!(split_options("host='unterminated").is_err());
    }

    #[test]
    fn refuses_unknown_and_unsupported_modes_by_name() {
        let e = split_options("postgres://h/x?sslmode=allow").unwrap_err();
        assert!(
            e.to_string().contains("sslmode=allow is not supported"),
            "{e}"
        );
        let e = split_options("postgres://h/x?sslmode=verify_full").unwrap_err();
        assert!(
            e.to_string().contains("sslmode=verify_full is not a valid"),
            "{e}"
        );
        let e = split_options("postgres://h/x?sslcert=c.pem").unwrap_err();
        assert!(e.to_string().contains("sslcert is not supported"), "{e}");
    }

    fn mode_of(conn: &str) -> Result<SslMode> {
        let (rest, o) = split_options(conn)?;
        o.effective_mode(&Config::from_str(&rest).unwrap())
    }

    #[test]
    fn requires_tls_by_default_across_a_network_and_prefers_it_locally() {
        assert_eq!(
            mode_of("postgres://u@db.example/x").unwrap(),
            SslMode::Require
        );
        assert_eq!(
            mode_of("postgres://u@10.0.0.5/x").unwrap(),
            SslMode::Require
        );
        assert_eq!(
            mode_of("postgres://u@127.0.0.1/x").unwrap(),
            SslMode::Prefer
        );
        assert_eq!(
            mode_of("postgres://u@localhost/x").unwrap(),
            SslMode::Prefer
        );
        assert_eq!(mode_of("postgres://u@[::1]/x").unwrap(), SslMode::Prefer);
        assert_eq!(
            mode_of("postgres://u@%2Frun%2Fpostgresql/x").unwrap(),
            SslMode::Prefer
        );
        // A local name dialled at a remote address is remote, and the other way round.
        assert_eq!(
            mode_of("postgres://u@localhost/x?hostaddr=10.0.0.5").unwrap(),
            SslMode::Require
        );
        assert_eq!(
            mode_of("postgres://u@db.example/x?hostaddr=127.0.0.1").unwrap(),
            SslMode::Prefer
        );
        assert_eq!(
            mode_of("postgres://u@db.example/x?sslmode=disable").unwrap(),
            SslMode::Disable
        );
        // `sslrootcert=system` means verify-full, as in libpq, and refuses a weaker mode.
        assert_eq!(
            mode_of("postgres://u@db.example/x?sslrootcert=system").unwrap(),
            SslMode::VerifyFull
        );
        let e =
            mode_of("postgres://u@db.example/x?sslrootcert=system&sslmode=require").unwrap_err();
        assert!(e.to_string().contains("needs sslmode=verify-full"), "{e}");
    }

    #[test]
    fn verify_modes_need_a_root_certificate_and_a_named_one_must_exist() {
        let (rest, o) = split("postgres://u@db.example/x?sslmode=verify-full");
        let config = Config::from_str(&rest).unwrap();
        // Only when no default ~/.postgresql/root.crt exists on this machine.
        if default_root_file().is_none_or(|p| !p.is_file()) {
            let e = Tls::new(&o, &config).err().unwrap().to_string();
            assert!(e.contains("needs the server's CA certificate"), "{e}");
        }
        let (rest, o) = split("postgres://u@db.example/x?sslrootcert=%2Fnonexistent%2Fca.pem");
        let e = Tls::new(&o, &Config::from_str(&rest).unwrap())
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("cannot read sslrootcert /nonexistent/ca.pem"),
            "{e}"
        );
    }
}
