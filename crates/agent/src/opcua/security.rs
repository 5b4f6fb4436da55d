//! OPC UA message security of `dtfhe agent --opcua`: the `[security]` table of the mapping
//! file. Without it the agent talks security policy `None` (the test set-up); with it,
//! `Basic256Sha256` with `Sign` or `SignAndEncrypt`, the agent's own certificate and key, and
//! the one server certificate it trusts:
//!
//! ```toml
//! [security]
//! policy = "Basic256Sha256"
//! mode = "SignAndEncrypt"                    # or "Sign"
//! client_certificate = "pki/agent.der"       # .der or .pem; paths relative to this file
//! client_private_key = "pki/agent.key.pem"   # PEM
//! server_certificate = "pki/machine.der"     # the server certificate trusted
//! # application_uri = "urn:dtfhe:agent"      # the client certificate's first subjectAltName
//! # trust_any_server = true                  # instead of server_certificate: accept whatever
//!                                            # certificate the server shows (logged), never
//!                                            # the default
//! ```
//!
//! Before connecting, the agent asks the server for its endpoints (GetEndpoints, which OPC UA
//! serves without security), takes the one with this policy and mode, and refuses to go on
//! ([`SecurityError::Untrusted`]) unless the certificate it shows is the trusted one (same
//! SHA-1 thumbprint). The trusted certificate is then the only one in the client's PKI
//! directory (`<spool>/opcua-pki/trusted/`, emptied at every start along with `rejected/`), so
//! async-opcua checks it again (and its validity period, the endpoint's host name and the
//! server's application URI) on every new session; a server that later shows another
//! certificate is not connected to (the reconnection attempts fail, and say so).

use std::path::{Path, PathBuf};

use opcua::client::ClientBuilder;
use opcua::crypto::{CertificateStore, SecurityPolicy, X509};
use opcua::types::{EndpointDescription, MessageSecurityMode, UserTokenPolicy};
use serde::Deserialize;

/// The application URI the agent states when none is configured.
pub const DEFAULT_APPLICATION_URI: &str = "urn:dtfhe:agent";

/// Why the agent does not connect securely (no key or certificate content, only names,
/// paths and thumbprints).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecurityError {
    /// A certificate or key file that cannot be used.
    #[error("[security] {what} {path}: {reason}")]
    File {
        /// Which file (`client_certificate`, ...).
        what: &'static str,
        /// Its path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The server shows a certificate that is not the trusted one.
    #[error(
        "{url}: the server's certificate ({shown}) is not the trusted server certificate \
         ({trusted}): refusing to connect (put the server's certificate in [security] \
         server_certificate if it is the right server)"
    )]
    Untrusted {
        /// The endpoint URL.
        url: String,
        /// Subject and thumbprint of the certificate the server shows.
        shown: String,
        /// Subject and thumbprint of the trusted one (or the file named).
        trusted: String,
    },
    /// The server offers no endpoint with the configured policy and mode.
    #[error("{url}: the server offers no {policy} {mode} endpoint (it offers: {offered})")]
    NoEndpoint {
        /// The endpoint URL.
        url: String,
        /// Policy asked.
        policy: String,
        /// Mode asked.
        mode: String,
        /// What it offers.
        offered: String,
    },
    /// The PKI directory cannot be prepared.
    #[error("OPC UA PKI directory {path}: {reason}")]
    Pki {
        /// The directory.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// Message security mode with certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Messages signed.
    Sign,
    /// Messages signed and encrypted.
    SignAndEncrypt,
}

/// The secured connection's settings (paths resolved against the mapping file's directory).
#[derive(Debug, Clone, PartialEq)]
pub struct Secured {
    /// Signed, or signed and encrypted (policy `Basic256Sha256`).
    pub mode: Mode,
    /// The agent's certificate (`.der` or `.pem`).
    pub client_certificate: PathBuf,
    /// Its private key (PEM).
    pub client_private_key: PathBuf,
    /// The trusted server certificate; `None`: trust whatever the server shows (explicitly
    /// asked with `trust_any_server = true`).
    pub server_certificate: Option<PathBuf>,
    /// The agent's application URI (its certificate's first subjectAltName).
    pub application_uri: String,
}

/// The `[security]` table as written.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawSecurity {
    policy: Option<String>,
    mode: Option<String>,
    client_certificate: Option<PathBuf>,
    client_private_key: Option<PathBuf>,
    server_certificate: Option<PathBuf>,
    application_uri: Option<String>,
    trust_any_server: Option<bool>,
}

/// Why a mapping's `[security]` table is refused (each names the key to fix).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecurityTableError {
    /// Policy None with keys that only a secured policy takes.
    #[error(
        "[security] policy None takes no mode, certificate or key (give policy = \"Basic256Sha256\")"
    )]
    PolicyNoneTakesNoKeys,
    /// A policy other than None and Basic256Sha256.
    #[error("[security] policy `{0}` is not supported (give \"None\" or \"Basic256Sha256\")")]
    UnsupportedPolicy(String),
    /// A message mode other than Sign and SignAndEncrypt.
    #[error(
        "[security] mode `{0}` is not supported with Basic256Sha256 (give \"Sign\" or \"SignAndEncrypt\")"
    )]
    UnsupportedMode(String),
    /// A key Basic256Sha256 needs is absent.
    #[error("[security] Basic256Sha256 needs `{0}`")]
    Needs(&'static str),
    /// Both a trusted server certificate and `trust_any_server = true`.
    #[error("[security] give `server_certificate` or `trust_any_server = true`, not both")]
    ServerCertificateAndTrustAny,
    /// Neither a trusted server certificate nor an explicit `trust_any_server = true`.
    #[error(
        "[security] Basic256Sha256 needs the trusted `server_certificate` (or, knowingly, `trust_any_server = true`)"
    )]
    NoServerCertificate,
}

/// The security settings of a mapping: `None` is security policy None.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Security(pub Option<Secured>);

impl Security {
    /// Checks the `[security]` table (absent: policy None); the error names the key.
    pub fn from_raw(raw: Option<RawSecurity>) -> Result<Security, SecurityTableError> {
        use SecurityTableError as E;
        let Some(r) = raw else {
            return Ok(Security(None));
        };
        match r.policy.as_deref() {
            None | Some("None") => {
                let extra = r.mode.is_some()
                    || r.client_certificate.is_some()
                    || r.client_private_key.is_some()
                    || r.server_certificate.is_some()
                    || r.trust_any_server.is_some()
                    || r.application_uri.is_some();
                return if extra {
                    Err(E::PolicyNoneTakesNoKeys)
                } else {
                    Ok(Security(None))
                };
            }
            Some("Basic256Sha256") => {}
            Some(other) => return Err(E::UnsupportedPolicy(other.to_string())),
        }
        let mode = match r.mode.as_deref() {
            None | Some("SignAndEncrypt") => Mode::SignAndEncrypt,
            Some("Sign") => Mode::Sign,
            Some(other) => return Err(E::UnsupportedMode(other.to_string())),
        };
        let need = |p: Option<PathBuf>, key: &'static str| p.ok_or(E::Needs(key));
        let client_certificate = need(r.client_certificate, "client_certificate")?;
        let client_private_key = need(r.client_private_key, "client_private_key")?;
        let server_certificate = match (r.server_certificate, r.trust_any_server) {
            (Some(p), None | Some(false)) => Some(p),
            (None, Some(true)) => None,
            (Some(_), Some(true)) => return Err(E::ServerCertificateAndTrustAny),
            (None, _) => return Err(E::NoServerCertificate),
        };
        Ok(Security(Some(Secured {
            mode,
            client_certificate,
            client_private_key,
            server_certificate,
            application_uri: r
                .application_uri
                .unwrap_or_else(|| DEFAULT_APPLICATION_URI.to_string()),
        })))
    }

    /// Resolves relative certificate and key paths against `base` (the mapping file's
    /// directory).
    pub fn resolve_paths(&mut self, base: &Path) {
        if let Some(s) = &mut self.0 {
            for p in [
                Some(&mut s.client_certificate),
                Some(&mut s.client_private_key),
                s.server_certificate.as_mut(),
            ]
            .into_iter()
            .flatten()
            {
                if p.is_relative() {
                    *p = base.join(&*p);
                }
            }
        }
    }

    /// The application URI the client states.
    pub fn application_uri(&self) -> &str {
        self.0
            .as_ref()
            .map_or(DEFAULT_APPLICATION_URI, |s| s.application_uri.as_str())
    }
}

impl Secured {
    /// The OPC UA message security mode.
    pub fn message_mode(&self) -> MessageSecurityMode {
        match self.mode {
            Mode::Sign => MessageSecurityMode::Sign,
            Mode::SignAndEncrypt => MessageSecurityMode::SignAndEncrypt,
        }
    }

    /// Checks the agent's certificate and key, empties the PKI directory's `trusted/` and
    /// `rejected/`, puts the trusted server certificate (if one is named) in `trusted/`, and
    /// sets up `builder` with them. Returns the builder and the trusted certificate.
    pub fn configure(
        &self,
        builder: ClientBuilder,
        pki: &Path,
    ) -> Result<(ClientBuilder, Option<X509>), SecurityError> {
        let cert = read_cert("client_certificate", &self.client_certificate)?;
        let policy = SecurityPolicy::Basic256Sha256;
        let file = |what, path: &Path, reason: String| SecurityError::File {
            what,
            path: path.to_path_buf(),
            reason,
        };
        match cert.key_length() {
            Ok(bits) if policy.is_valid_keylength(bits) => {}
            Ok(bits) => {
                return Err(file(
                    "client_certificate",
                    &self.client_certificate,
                    format!(
                        "an RSA key of {bits} bits is not valid for Basic256Sha256 (2048 to 4096)"
                    ),
                ))
            }
            Err(e) => {
                return Err(file(
                    "client_certificate",
                    &self.client_certificate,
                    e.to_string(),
                ))
            }
        }
        if cert
            .is_application_uri_valid(&self.application_uri)
            .is_err()
        {
            return Err(file(
                "client_certificate",
                &self.client_certificate,
                format!(
                    "its first subjectAltName is not the application URI `{}` (set \
                     [security] application_uri, or issue the certificate for it)",
                    self.application_uri
                ),
            ));
        }
        CertificateStore::read_pkey(&self.client_private_key).map_err(|_| {
            file(
                "client_private_key",
                &self.client_private_key,
                "not a PEM private key".into(),
            )
        })?;
        let pki_error = |reason: String| SecurityError::Pki {
            path: pki.to_path_buf(),
            reason,
        };
        let store = CertificateStore::new(pki);
        for dir in [store.trusted_certs_dir(), store.rejected_certs_dir()] {
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(pki_error(format!("{}: {e}", dir.display()))),
            }
            std::fs::create_dir_all(&dir)
                .map_err(|e| pki_error(format!("{}: {e}", dir.display())))?;
        }
        let trusted = match &self.server_certificate {
            Some(p) => {
                let server = read_cert("server_certificate", p)?;
                let at = store
                    .trusted_certs_dir()
                    .join(CertificateStore::cert_file_name(&server));
                let der = server
                    .to_der()
                    .map_err(|e| file("server_certificate", p, e.to_string()))?;
                std::fs::write(&at, der)
                    .map_err(|e| pki_error(format!("{}: {e}", at.display())))?;
                Some(server)
            }
            None => None,
        };
        let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        let builder = builder
            .application_uri(self.application_uri.clone())
            .certificate_path(absolute(&self.client_certificate))
            .private_key_path(absolute(&self.client_private_key))
            .trust_server_certs(trusted.is_none())
            .verify_server_certs(true);
        Ok((builder, trusted))
    }

    /// The endpoint to connect to among the server's `offered` ones (from GetEndpoints): the
    /// one with this policy and mode, whose certificate must be `trusted` (unless `None`:
    /// trust any, asked for explicitly); its URL set to `url`.
    pub fn choose_endpoint(
        &self,
        url: &str,
        offered: &[EndpointDescription],
        trusted: Option<&X509>,
    ) -> Result<EndpointDescription, SecurityError> {
        let policy_uri = SecurityPolicy::Basic256Sha256.to_uri();
        let mode = self.message_mode();
        let Some(found) = offered
            .iter()
            .find(|e| e.security_policy_uri.as_ref() == policy_uri && e.security_mode == mode)
        else {
            let list: Vec<String> = offered
                .iter()
                .map(|e| {
                    let p = e.security_policy_uri.as_ref();
                    format!(
                        "{} {:?}",
                        p.rsplit('#').next().unwrap_or(p),
                        e.security_mode
                    )
                })
                .collect();
            return Err(SecurityError::NoEndpoint {
                url: url.to_string(),
                policy: "Basic256Sha256".into(),
                mode: format!("{mode:?}"),
                offered: if list.is_empty() {
                    "nothing".into()
                } else {
                    list.join(", ")
                },
            });
        };
        let shown = X509::from_byte_string(&found.server_certificate).map_err(|e| {
            SecurityError::Untrusted {
                url: url.to_string(),
                shown: format!("not a certificate: {e}"),
                trusted: trusted.map_or_else(|| "any".into(), describe),
            }
        })?;
        if let Some(t) = trusted {
            if t.thumbprint().as_hex_string() != shown.thumbprint().as_hex_string() {
                return Err(SecurityError::Untrusted {
                    url: url.to_string(),
                    shown: describe(&shown),
                    trusted: describe(t),
                });
            }
        }
        let mut e = found.clone();
        e.endpoint_url = url.into();
        if e.user_identity_tokens.as_ref().is_none_or(|t| t.is_empty()) {
            e.user_identity_tokens = Some(vec![UserTokenPolicy::anonymous()]);
        }
        Ok(e)
    }
}

/// Asks the server at `url` for its endpoints (GetEndpoints, retried every second while the
/// server cannot be reached, each failure passed to `waiting`) and chooses the secured one
/// ([`Secured::choose_endpoint`]). `Ok(None)`: `stop()` became true first.
pub fn probe_endpoint(
    runtime: &tokio::runtime::Runtime,
    client: &opcua::client::Client,
    secured: &Secured,
    url: &str,
    trusted: Option<&X509>,
    stop: &(dyn Fn() -> bool + Sync),
    waiting: &mut dyn FnMut(String),
) -> Result<Option<EndpointDescription>, SecurityError> {
    loop {
        match runtime.block_on(client.get_server_endpoints_from_url(url)) {
            Ok(offered) => return secured.choose_endpoint(url, &offered, trusted).map(Some),
            Err(e) => waiting(format!("GetEndpoints: {}", e.status())),
        }
        if stop() {
            return Ok(None);
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}

/// The chosen endpoint's policy, mode and server certificate, for the log.
pub fn summary(e: &EndpointDescription) -> String {
    let policy = e.security_policy_uri.as_ref();
    let cert = X509::from_byte_string(&e.server_certificate)
        .map_or_else(|_| "none".to_string(), |c| describe(&c));
    format!(
        "{} {:?}, server certificate {cert}",
        policy.rsplit('#').next().unwrap_or(policy),
        e.security_mode
    )
}

/// A certificate's subject and SHA-1 thumbprint, for messages.
pub fn describe(c: &X509) -> String {
    format!(
        "{}, SHA-1 {}",
        c.subject_name(),
        c.thumbprint().as_hex_string()
    )
}

/// Reads a `.der` or `.pem` certificate.
fn read_cert(what: &'static str, path: &Path) -> Result<X509, SecurityError> {
    CertificateStore::read_cert(path).map_err(|reason| SecurityError::File {
        what,
        path: path.to_path_buf(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn raw(text: &str) -> Result<Security, String> {
        let r: RawSecurity = toml::from_str(text).map_err(|e| e.to_string())?;
        Security::from_raw(Some(r)).map_err(|e| e.to_string())
    }

    const SECURE: &str = "policy = \"Basic256Sha256\"\nclient_certificate = \"a.der\"\n\
        client_private_key = \"a.pem\"\nserver_certificate = \"s.der\"\n";

    #[test]
    fn security_table_is_checked() {
        assert_eq!(Security::from_raw(None).unwrap(), Security(None));
        assert_eq!(raw("policy = \"None\"").unwrap(), Security(None));
        let s = raw(SECURE).unwrap().0.unwrap();
        assert_eq!(s.mode, Mode::SignAndEncrypt);
        assert_eq!(s.server_certificate, Some(PathBuf::from("s.der")));
        assert_eq!(s.application_uri, DEFAULT_APPLICATION_URI);
        let sign = raw(&format!("{SECURE}mode = \"Sign\"\n"))
            .unwrap()
            .0
            .unwrap();
        assert_eq!(sign.message_mode(), MessageSecurityMode::Sign);
        let any = SECURE.replace("server_certificate = \"s.der\"", "trust_any_server = true");
        assert_eq!(raw(&any).unwrap().0.unwrap().server_certificate, None);
        for (bad, says) in [
            ("policy = \"Basic128Rsa15\"", "not supported"),
            ("policy = \"None\"\nmode = \"Sign\"", "policy None takes no"),
            (
                &SECURE.replace("client_certificate = \"a.der\"\n", ""),
                "`client_certificate`",
            ),
            (
                &SECURE.replace("client_private_key = \"a.pem\"\n", ""),
                "`client_private_key`",
            ),
            (
                &SECURE.replace("server_certificate = \"s.der\"\n", ""),
                "trusted `server_certificate`",
            ),
            (&format!("{SECURE}trust_any_server = true\n"), "not both"),
            (&format!("{SECURE}mode = \"None\"\n"), "mode `None`"),
            (&format!("{SECURE}cipher = \"x\"\n"), "unknown field"),
        ] {
            let e = raw(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn relative_paths_are_taken_from_the_mapping_files_directory() {
        let mut s = raw(&SECURE.replace("\"s.der\"", "\"/etc/s.der\"")).unwrap();
        s.resolve_paths(Path::new("/maps"));
        let s = s.0.unwrap();
        assert_eq!(s.client_certificate, PathBuf::from("/maps/a.der"));
        assert_eq!(s.client_private_key, PathBuf::from("/maps/a.pem"));
        assert_eq!(s.server_certificate, Some(PathBuf::from("/etc/s.der")));
    }

    /// A self-signed RSA-2048 certificate whose first subjectAltName is `uri`.
    fn certificate(uri: &str) -> X509 {
        let data = opcua::crypto::X509Data {
            key_size: 2048,
            common_name: "machine".into(),
            organization: "test".into(),
            organizational_unit: "test".into(),
            country: "DE".into(),
            state: "BW".into(),
            // (The first name, as a DNS name, is what the URI checks read.)
            alt_host_names: vec![uri.to_string(), "127.0.0.1".to_string()].into(),
            certificate_duration_days: 2,
        };
        X509::cert_and_pkey(&data).unwrap().0
    }

    fn offered(cert: &X509) -> EndpointDescription {
        let mut e: EndpointDescription = (
            "opc.tcp://machine.local:4840/",
            SecurityPolicy::Basic256Sha256.to_uri(),
            MessageSecurityMode::SignAndEncrypt,
            UserTokenPolicy::anonymous(),
        )
            .into();
        e.server_certificate = cert.as_byte_string();
        e
    }

    #[test]
    fn only_the_trusted_certificate_is_connected_to_unless_any_is_trusted() {
        let s = raw(SECURE).unwrap().0.unwrap();
        let (real, impostor) = (certificate("urn:m"), certificate("urn:m"));
        let url = "opc.tcp://127.0.0.1:4840/";
        let e = s
            .choose_endpoint(url, &[offered(&real)], Some(&real))
            .unwrap();
        assert_eq!(e.endpoint_url.as_ref(), url);
        let refused = s
            .choose_endpoint(url, &[offered(&impostor)], Some(&real))
            .unwrap_err();
        let t = refused.to_string();
        assert!(matches!(refused, SecurityError::Untrusted { .. }), "{t}");
        for c in [&real, &impostor] {
            assert!(t.contains(&c.thumbprint().as_hex_string()), "{t}");
        }
        assert!(t.contains("refusing to connect"), "{t}");
        // Asked for explicitly (`trust_any_server = true`): whatever the server shows.
        assert!(s.choose_endpoint(url, &[offered(&impostor)], None).is_ok());
    }

    #[test]
    fn a_client_certificate_for_another_application_is_refused_before_connecting() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("agent.der");
        std::fs::write(&cert, certificate("urn:other").to_der().unwrap()).unwrap();
        let table = SECURE.replace("\"a.der\"", &format!("{:?}", cert.display().to_string()));
        let s = raw(&table).unwrap().0.unwrap();
        let e = s
            .configure(ClientBuilder::new(), &dir.path().join("pki"))
            .err()
            .unwrap();
        let t = e.to_string();
        assert!(
            t.contains("first subjectAltName is not the application URI `urn:dtfhe:agent`"),
            "{t}"
        );
        // The right URI, but no key file: named, nothing read out of it.
        std::fs::write(
            &cert,
            certificate(DEFAULT_APPLICATION_URI).to_der().unwrap(),
        )
        .unwrap();
        let e = s
            .configure(ClientBuilder::new(), &dir.path().join("pki"))
            .err()
            .unwrap();
        assert!(
            e.to_string()
                .contains("client_private_key a.pem: not a PEM private key"),
            "{e}"
        );
    }

    #[test]
    fn an_endpoint_of_another_policy_is_not_taken() {
        let s = raw(SECURE).unwrap().0.unwrap();
        let none: EndpointDescription = (
            "opc.tcp://127.0.0.1:4840/",
            SecurityPolicy::None.to_uri(),
            MessageSecurityMode::None,
            UserTokenPolicy::anonymous(),
        )
            .into();
        let e = s
            .choose_endpoint("opc.tcp://127.0.0.1:4840/", &[none], None)
            .unwrap_err();
        let t = e.to_string();
        assert!(
            t.contains("no Basic256Sha256 SignAndEncrypt endpoint"),
            "{t}"
        );
        assert!(t.contains("offers: None None"), "{t}");
    }
}
