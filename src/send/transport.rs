//! SMTP per `email.smtp`: host, port, TLS mode, and credentials read only from
//! the environment variables the config names. Transient failures are retried
//! with backoff; the caller learns whether to go on with the next message.

use crate::config::{SmtpConfig, Tls};
use anyhow::{Result, anyhow, bail};
use lettre::transport::smtp::Error as SmtpError;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls as LettreTls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};
use std::path::Path;
use std::time::Duration;

/// Waits before each retry: a few quick attempts keep a flaky server from
/// failing a run without stalling it for long.
const BACKOFF_MS: [u64; 3] = [200, 400, 800];
const TIMEOUT: Duration = Duration::from_secs(30);

/// Why a message did not go out, after any retries.
#[derive(Debug, Clone)]
pub enum Failure {
    /// The server refused this message (5xx for a recipient or the content):
    /// other messages may still go out.
    Rejected(String),
    /// The server or the connection failed (network, TLS, 4xx after retries,
    /// authentication): the following messages would fail the same way.
    Stop(String),
}

impl Failure {
    pub fn reason(&self) -> &str {
        match self {
            Failure::Rejected(r) | Failure::Stop(r) => r,
        }
    }
}

pub struct Smtp {
    transport: SmtpTransport,
    /// `host:port`, named in TLS failures.
    server: String,
    /// `host:port (tls)`, and where credentials came from: safe to print.
    pub describe: String,
}

impl Smtp {
    /// `root` is the billing repository, against which `ca_file` is resolved.
    pub fn new(config: &SmtpConfig, root: &Path, config_shown: &str) -> Result<Smtp> {
        let host = config.host.trim();
        if host.is_empty() {
            bail!("{}: key `email.smtp.host`: empty", config_shown);
        }
        let roots = extra_roots(config, root, config_shown)?;
        // `Required`, never `Opportunistic`: a server without STARTTLS is an
        // error, not a reason to send in plain text.
        let tls = match config.tls {
            Tls::None => LettreTls::None,
            Tls::Starttls => LettreTls::Required(params(host, &roots, config_shown)?),
            Tls::Tls => LettreTls::Wrapper(params(host, &roots, config_shown)?),
        };
        let mut builder = SmtpTransport::builder_dangerous(host)
            .port(config.port)
            .tls(tls)
            .timeout(Some(TIMEOUT));
        let mode = match config.tls {
            Tls::None => "no TLS",
            Tls::Starttls => "STARTTLS",
            Tls::Tls => "TLS",
        };
        let mut describe = format!("{host}:{} ({mode})", config.port);
        if let Some((creds, vars)) = credentials(config, config_shown)? {
            builder = builder.credentials(creds);
            describe.push_str(&format!(", credentials from {vars}"));
        }
        Ok(Smtp {
            transport: builder.build(),
            server: format!("{host}:{}", config.port),
            describe,
        })
    }

    /// Send, retrying transient failures (4xx, connection errors) with backoff.
    pub fn send(&self, message: &Message) -> Result<(), Failure> {
        let mut attempt = 0;
        loop {
            match self.transport.send(message) {
                Ok(_) => return Ok(()),
                Err(e) => match classify(&e) {
                    Kind::Retry if attempt < BACKOFF_MS.len() => {
                        std::thread::sleep(Duration::from_millis(BACKOFF_MS[attempt]));
                        attempt += 1;
                    }
                    Kind::Retry | Kind::Stop if is_tls(&e) => {
                        return Err(Failure::Stop(format!(
                            "TLS with {} failed: {}",
                            self.server,
                            tried(&e, attempt)
                        )));
                    }
                    Kind::Retry | Kind::Stop => {
                        return Err(Failure::Stop(tried(&e, attempt)));
                    }
                    Kind::Rejected => return Err(Failure::Rejected(e.to_string())),
                },
            }
        }
    }
}

fn tried(e: &SmtpError, retries: usize) -> String {
    match retries {
        0 => e.to_string(),
        n => format!("{e} (after {} attempts)", n + 1),
    }
}

fn params(host: &str, roots: &[Certificate], shown: &str) -> Result<TlsParameters> {
    roots
        .iter()
        .fold(TlsParameters::builder(host.to_string()), |b, c| {
            b.add_root_certificate(c.clone())
        })
        .build()
        .map_err(|e| anyhow!("{shown}: key `email.smtp.host`: cannot set up TLS for `{host}`: {e}"))
}

/// The certificates of `email.smtp.ca_file`, each checked, so a bad file is
/// named before anything is sent.
fn extra_roots(config: &SmtpConfig, root: &Path, shown: &str) -> Result<Vec<Certificate>> {
    let Some(file) = config.ca_file.as_deref() else {
        return Ok(vec![]);
    };
    let path = root.join(file);
    let text = std::fs::read(&path).map_err(|e| {
        anyhow!(
            "{shown}: key `email.smtp.ca_file`: cannot read `{}`: {e}",
            path.display()
        )
    })?;
    let pems: Vec<&[u8]> = split_pem(&text);
    if pems.is_empty() {
        bail!(
            "{shown}: key `email.smtp.ca_file`: `{}` holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        );
    }
    pems.into_iter()
        .map(|pem| {
            Certificate::from_pem(pem).map_err(|e| {
                anyhow!(
                    "{shown}: key `email.smtp.ca_file`: `{}`: {e}",
                    path.display()
                )
            })
        })
        .collect()
}

/// Each `-----BEGIN CERTIFICATE-----` block of a PEM bundle.
fn split_pem(text: &[u8]) -> Vec<&[u8]> {
    const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
    const END: &[u8] = b"-----END CERTIFICATE-----";
    let find = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).position(|w| w == needle);
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = find(rest, BEGIN) {
        let Some(len) = find(&rest[start..], END) else {
            break;
        };
        let end = start + len + END.len();
        out.push(&rest[start..end]);
        rest = &rest[end..];
    }
    out
}

/// A failure of the TLS layer (handshake, certificate), however lettre files it.
fn is_tls(e: &SmtpError) -> bool {
    let text = e.to_string().to_ascii_lowercase();
    e.is_tls()
        || ["certificate", "tls", "handshake"]
            .iter()
            .any(|w| text.contains(w))
}

/// Credentials when the user variable is set; the password must then be set
/// too. Neither value is ever printed: only the variables' names are.
fn credentials(config: &SmtpConfig, shown: &str) -> Result<Option<(Credentials, String)>> {
    let Some(user_var) = config.username_env.as_deref() else {
        return Ok(None);
    };
    let user = match std::env::var(user_var) {
        Ok(u) if !u.is_empty() => u,
        _ => return Ok(None),
    };
    let Some(pass_var) = config.password_env.as_deref() else {
        bail!("{shown}: key `email.smtp.password_env`: needed because ${user_var} is set");
    };
    let password = std::env::var(pass_var).map_err(|_| {
        anyhow!("environment variable ${pass_var} (email.smtp.password_env) is not set, but ${user_var} is")
    })?;
    Ok(Some((
        Credentials::new(user, password),
        format!("${user_var} and ${pass_var}"),
    )))
}

enum Kind {
    Retry,
    Rejected,
    Stop,
}

/// 5xx is final. Authentication codes concern every message, so they stop the
/// run; other 5xx concern this message only. The rest may pass on a retry.
fn classify(e: &SmtpError) -> Kind {
    if e.is_permanent() {
        let code = e.status().map(|c| c.to_string()).unwrap_or_default();
        return match code.as_str() {
            "530" | "534" | "535" | "538" => Kind::Stop,
            _ => Kind::Rejected,
        };
    }
    if e.is_tls() || e.is_client() {
        return Kind::Stop;
    }
    Kind::Retry
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_come_from_the_named_variables_only() {
        let config = SmtpConfig {
            username_env: Some("OCB_TEST_UNSET_USER_4F2A".into()),
            password_env: Some("OCB_TEST_UNSET_PASS_4F2A".into()),
            ..SmtpConfig::default()
        };
        assert!(credentials(&config, "ocb.yaml").unwrap().is_none());
        let none = SmtpConfig {
            username_env: None,
            ..SmtpConfig::default()
        };
        assert!(credentials(&none, "ocb.yaml").unwrap().is_none());
    }

    #[test]
    fn describe_names_variables_not_values() {
        let config = SmtpConfig {
            host: "127.0.0.1".into(),
            port: 2525,
            tls: Tls::None,
            username_env: Some("PATH".into()),
            password_env: Some("HOME".into()),
            ca_file: None,
        };
        let s = Smtp::new(&config, Path::new("."), "ocb.yaml").unwrap();
        assert_eq!(
            s.describe,
            "127.0.0.1:2525 (no TLS), credentials from $PATH and $HOME"
        );
    }
}
