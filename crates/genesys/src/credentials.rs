//! OAuth client credentials and where the secret may come from.
//!
//! Owns `Credentials` and its three sources: a value the caller already holds (environment
//! variables read by the caller's settings layer), a secret file that must not be readable by
//! group or others, and a credential command whose stdout is the secret. Invariants: the secret
//! only ever lives in a `SecretString`; no error message echoes file contents or command
//! output; this module never reads environment variables itself (only names them).

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use secrecy::{ExposeSecret, SecretString};

/// Environment variable holding the OAuth client id (the name Genesys's own tools use).
pub const ENV_CLIENT_ID: &str = "GENESYSCLOUD_OAUTHCLIENT_ID";
/// Environment variable holding the OAuth client secret.
pub const ENV_CLIENT_SECRET: &str = "GENESYSCLOUD_OAUTHCLIENT_SECRET";
/// Environment variable holding the region id (`us_east_1`, …).
pub const ENV_REGION: &str = "GENESYSCLOUD_REGION";

/// A client-credentials OAuth client: the id is not secret, the secret is never printed.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The OAuth client id.
    pub client_id: String,
    /// The OAuth client secret.
    pub client_secret: SecretString,
}

/// Why credentials could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialsError {
    /// The secret file is group- or other-accessible.
    #[error(
        "secret file {path} is accessible by group or others (mode {mode:04o}); \
         restrict it with `chmod 600 {path}`",
        path = path.display()
    )]
    SecretFileTooOpen {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The secret file could not be read.
    #[error("cannot read secret file: {0}")]
    SecretFileRead(#[source] io::Error),
    /// The secret file or command output was empty (after trimming).
    #[error("the client secret from {source_name} is empty")]
    EmptySecret {
        /// Where the secret came from (a path or a program name).
        source_name: String,
    },
    /// The secret is not valid UTF-8.
    #[error("the client secret from {source_name} is not valid UTF-8")]
    NotUtf8 {
        /// Where the secret came from.
        source_name: String,
    },
    /// No credential command was given.
    #[error("the credential command is empty")]
    EmptyCommand,
    /// The credential command could not be started.
    #[error("cannot run credential command `{program}`: {source}")]
    CommandSpawn {
        /// The program.
        program: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The credential command exited unsuccessfully (its output is deliberately not shown).
    #[error(
        "credential command `{program}` failed ({status}); its output is not shown because it may contain the secret"
    )]
    CommandFailed {
        /// The program.
        program: String,
        /// Its exit status, as text.
        status: String,
    },
}

impl Credentials {
    /// Credentials from values the caller already holds (e.g. read from [`ENV_CLIENT_ID`] and
    /// [`ENV_CLIENT_SECRET`] by the settings layer).
    pub fn new(client_id: impl Into<String>, client_secret: SecretString) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret,
        }
    }

    /// Reads the secret from a file (trailing whitespace trimmed). On Unix the file is refused
    /// when any group or other permission bit is set (`mode & 0o077 != 0`).
    pub fn from_secret_file(
        client_id: impl Into<String>,
        path: impl AsRef<Path>,
    ) -> Result<Self, CredentialsError> {
        let path = path.as_ref();
        let metadata = fs_err::metadata(path).map_err(CredentialsError::SecretFileRead)?;
        check_mode(path, &metadata)?;
        let bytes = fs_err::read(path).map_err(CredentialsError::SecretFileRead)?;
        let secret = secret_from_bytes(bytes, &path.display().to_string())?;
        Ok(Self::new(client_id, secret))
    }

    /// Runs a credential command (like AWS `credential_process`) and takes its trimmed stdout
    /// as the secret. stdin is closed and stderr passes through to the user. A failing command
    /// is reported by program name and exit status only; its stdout is never echoed.
    pub fn from_command(
        client_id: impl Into<String>,
        argv: &[String],
    ) -> Result<Self, CredentialsError> {
        let (program, rest) = argv.split_first().ok_or(CredentialsError::EmptyCommand)?;
        let output = Command::new(program)
            .args(rest)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .map_err(|source| CredentialsError::CommandSpawn {
                program: program.clone(),
                source,
            })?;
        if !output.status.success() {
            return Err(CredentialsError::CommandFailed {
                program: program.clone(),
                status: output.status.to_string(),
            });
        }
        let secret = secret_from_bytes(output.stdout, &format!("command `{program}`"))?;
        Ok(Self::new(client_id, secret))
    }
}

#[cfg(unix)]
fn check_mode(path: &Path, metadata: &std::fs::Metadata) -> Result<(), CredentialsError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = metadata.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(CredentialsError::SecretFileTooOpen {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_mode(_path: &Path, _metadata: &std::fs::Metadata) -> Result<(), CredentialsError> {
    Ok(())
}

/// Turns raw bytes into a trimmed secret, wiping the intermediate buffer's contents by moving
/// them straight into the `SecretString`.
fn secret_from_bytes(bytes: Vec<u8>, source_name: &str) -> Result<SecretString, CredentialsError> {
    let text = String::from_utf8(bytes).map_err(|_| CredentialsError::NotUtf8 {
        source_name: source_name.to_owned(),
    })?;
    let secret = SecretString::from(text);
    let trimmed = secret.expose_secret().trim();
    if trimmed.is_empty() {
        return Err(CredentialsError::EmptySecret {
            source_name: source_name.to_owned(),
        });
    }
    if trimmed.len() == secret.expose_secret().len() {
        return Ok(secret);
    }
    Ok(SecretString::from(trimmed.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANARY: &str = "canary-Secret-7f3a9";

    #[cfg(unix)]
    fn write_secret(mode: u32) -> (tempfile::TempDir, PathBuf) {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, format!("{CANARY}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        (dir, path)
    }

    #[cfg(unix)]
    #[test]
    fn world_readable_secret_file_is_refused_with_path_and_fix() {
        for mode in [0o644, 0o604, 0o640, 0o660, 0o601] {
            let (_dir, path) = write_secret(mode);
            let err = Credentials::from_secret_file("id", &path).unwrap_err();
            let msg = err.to_string();
            assert!(
                matches!(err, CredentialsError::SecretFileTooOpen { .. }),
                "{mode:o}"
            );
            assert!(msg.contains(&path.display().to_string()), "{msg}");
            assert!(msg.contains("chmod 600"), "{msg}");
            assert!(!msg.contains(CANARY), "{msg}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn private_secret_file_is_read_and_trimmed() {
        for mode in [0o600, 0o400] {
            let (_dir, path) = write_secret(mode);
            let creds = Credentials::from_secret_file("my-id", &path).unwrap();
            assert_eq!(creds.client_id, "my-id");
            assert_eq!(creds.client_secret.expose_secret(), CANARY);
            assert!(!format!("{creds:?}").contains(CANARY));
        }
    }

    #[cfg(unix)]
    #[test]
    fn empty_secret_file_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "  \n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let err = Credentials::from_secret_file("id", &path).unwrap_err();
        assert!(matches!(err, CredentialsError::EmptySecret { .. }));
    }

    #[test]
    fn missing_secret_file_names_the_path() {
        let err = Credentials::from_secret_file("id", "/nonexistent/herald-secret").unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/herald-secret"),
            "{err}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn credential_command_stdout_is_the_trimmed_secret() {
        let argv = vec![
            "sh".to_owned(),
            "-c".to_owned(),
            format!("printf '  {CANARY}\\n'"),
        ];
        let creds = Credentials::from_command("id", &argv).unwrap();
        assert_eq!(creds.client_secret.expose_secret(), CANARY);
    }

    #[cfg(unix)]
    #[test]
    fn failing_credential_command_does_not_echo_its_output() {
        let argv = vec![
            "sh".to_owned(),
            "-c".to_owned(),
            format!("echo {CANARY}; exit 3"),
        ];
        let err = Credentials::from_command("id", &argv).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, CredentialsError::CommandFailed { .. }));
        assert!(msg.contains("sh") && msg.contains('3'), "{msg}");
        assert!(!msg.contains(CANARY), "{msg}");
    }

    #[test]
    fn empty_or_unstartable_command_is_an_error() {
        assert!(matches!(
            Credentials::from_command("id", &[]),
            Err(CredentialsError::EmptyCommand)
        ));
        let err = Credentials::from_command("id", &["/nonexistent/herald-helper".to_owned()])
            .unwrap_err();
        assert!(matches!(err, CredentialsError::CommandSpawn { .. }));
    }

    #[cfg(unix)]
    #[test]
    fn command_with_empty_output_is_refused() {
        let argv = vec!["true".to_owned()];
        assert!(matches!(
            Credentials::from_command("id", &argv),
            Err(CredentialsError::EmptySecret { .. })
        ));
    }
}
