//! Certificates (`shared/certificate`) and certificate profiles (`shared/certificate-profile`).
//!
//! ```toml
//! [[certificate]]
//! name = "hq"
//! certificate-file = "certs/hq.crt"   # PEM (may hold intermediates after it) or DER
//! private-key-file = "certs/hq.key"   # our own certificates only; mode 0600 or stricter
//!
//! [[certificate]]
//! name = "root-ca"
//! public-key = """                     # PAN-OS's name for the certificate's PEM text
//! -----BEGIN CERTIFICATE-----
//! ...
//! -----END CERTIFICATE-----
//! """
//!
//! [[certificate-profile]]
//! name = "branches"
//! ca = ["root-ca"]                     # trusted CAs (PAN-OS `CA/entry`)
//! username-field = { subject = "common-name" }   # optional, see UsernameField
//! ```
//!
//! Files are read when the configuration is loaded, relative to the configuration file's
//! directory ([`super::Config::load`]) or the working directory ([`super::Config::from_toml_str`]).
//! Private keys are only read from files, which must not be readable by group or others;
//! PAN-OS's inline (passphrase-encrypted) `private-key` is refused with a pointer to
//! `private-key-file`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

use super::error::{ConfigError, Problem, Site};
use crate::crypto::PrivateKeyDer;
use crate::pki::{self, CertificateField, LocalCredential, TrustStore};

/// A certificate object: a certificate (with the intermediates that follow it in its file) and,
/// for our own certificates, the private key.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CertificateObject {
    /// Unique name.
    pub name: String,
    /// A PEM or DER file holding the certificate, then any intermediates.
    #[serde(default)]
    pub certificate_file: Option<PathBuf>,
    /// The certificate as PEM text (PAN-OS's `public-key` element).
    #[serde(default)]
    pub public_key: Option<String>,
    /// A PEM file holding the private key (PKCS#8, PKCS#1 or SEC1), unencrypted, mode 0600.
    #[serde(default)]
    pub private_key_file: Option<PathBuf>,
    /// Refused: a private key written into the configuration.
    #[serde(default, rename = "private-key")]
    inline_private_key: Option<RefusedKey>,
    /// What was read: the chain and the key.
    #[serde(skip)]
    loaded: Loaded,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Loaded {
    chain: Vec<pki::Certificate>,
    key: Option<PrivateKeyDer>,
    /// Set once files were read (even when that failed), so validation does not report a
    /// certificate that was never loaded as empty.
    attempted: bool,
}

/// A private key found inline: its text is wiped at once and only its presence is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct RefusedKey;

impl<'de> Deserialize<'de> for RefusedKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let _wiped = zeroize::Zeroizing::new(String::deserialize(d)?);
        Ok(RefusedKey)
    }
}

impl CertificateObject {
    /// A certificate from PEM text (a trusted CA, or ours when `key` is given). Fails with the
    /// problem found in the text or the key.
    pub fn from_pem(
        name: impl Into<String>,
        pem: &str,
        key: Option<PrivateKeyDer>,
    ) -> Result<Self, Problem> {
        let chain = pki::Certificate::from_pem_or_der(pem.as_bytes())
            .map_err(|e| Problem::InvalidValue(e.to_string()))?;
        Ok(CertificateObject {
            name: name.into(),
            certificate_file: None,
            public_key: Some(pem.to_string()),
            private_key_file: None,
            inline_private_key: None,
            loaded: Loaded {
                chain,
                key,
                attempted: true,
            },
        })
    }

    /// A certificate read from `certificate_file` and, when given, its key from `key_file`
    /// (checked for permissions).
    pub fn from_files(
        name: impl Into<String>,
        certificate_file: impl Into<PathBuf>,
        key_file: Option<PathBuf>,
    ) -> Result<Self, Vec<ConfigError>> {
        let mut c = CertificateObject {
            name: name.into(),
            certificate_file: Some(certificate_file.into()),
            public_key: None,
            private_key_file: key_file,
            inline_private_key: None,
            loaded: Loaded::default(),
        };
        let mut errors = Vec::new();
        c.load(
            Path::new("."),
            &Site::new(super::ObjectKind::Certificate, 0, &c.name.clone()),
            &mut errors,
        );
        if errors.is_empty() {
            Ok(c)
        } else {
            Err(errors)
        }
    }

    /// The certificate and the intermediates after it, as read.
    pub fn chain(&self) -> &[pki::Certificate] {
        &self.loaded.chain
    }

    /// The certificate itself.
    pub fn certificate(&self) -> Option<&pki::Certificate> {
        self.loaded.chain.first()
    }

    /// The private key, when this is one of our certificates.
    pub fn private_key(&self) -> Option<&PrivateKeyDer> {
        self.loaded.key.as_ref()
    }

    /// Reads the files (paths relative to `base`) and parses the certificate and key.
    pub(crate) fn load(&mut self, base: &Path, site: &Site, out: &mut Vec<ConfigError>) {
        self.loaded.attempted = true;
        let resolve = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        let cert_bytes = match (&self.certificate_file, &self.public_key) {
            (Some(_), Some(_)) => {
                out.push(site.at(
                    "public-key",
                    Problem::Conflict("give certificate-file or public-key, not both".into()),
                ));
                None
            }
            (None, None) => {
                out.push(site.at(
                    "certificate-file",
                    Problem::InvalidValue("is required (or public-key with the PEM text)".into()),
                ));
                None
            }
            (Some(f), None) => match std::fs::read(resolve(f)) {
                Ok(b) => Some(("certificate-file", b)),
                Err(e) => {
                    out.push(site.at(
                        "certificate-file",
                        Problem::Io(format!("{}: {e}", resolve(f).display())),
                    ));
                    None
                }
            },
            (None, Some(pem)) => Some(("public-key", pem.as_bytes().to_vec())),
        };
        if let Some((field, bytes)) = cert_bytes {
            match pki::Certificate::from_pem_or_der(&bytes) {
                Ok(chain) => self.loaded.chain = chain,
                Err(e) => out.push(site.at(field, Problem::InvalidValue(e.to_string()))),
            }
        }
        if self.inline_private_key.is_some() {
            out.push(site.at(
                "private-key",
                Problem::InvalidValue(
                    "private keys are not written into the configuration: put the key in a file \
                     readable only by its owner and name it with private-key-file"
                        .into(),
                ),
            ));
        }
        if let Some(f) = &self.private_key_file {
            let path = resolve(f);
            match read_private_key(&path) {
                Ok(k) => self.loaded.key = Some(k),
                Err(p) => out.push(site.at("private-key-file", p)),
            }
        }
    }

    /// Checks that the key belongs to the certificate.
    pub(crate) fn check(&self, site: &Site, out: &mut Vec<ConfigError>) {
        if !self.loaded.attempted {
            out.push(site.at(
                "certificate-file",
                Problem::InvalidValue("was not loaded (Config::load_certificates)".into()),
            ));
            return;
        }
        if let (false, Some(key)) = (self.loaded.chain.is_empty(), &self.loaded.key) {
            // Any provider compiled in with signature schemes will do to match key and
            // certificate; without one the pair cannot be checked here.
            let Some(provider) = crate::crypto::builtin_providers()
                .into_iter()
                .map(|(_, p)| p)
                .find(|p| !p.signatures.is_empty())
            else {
                out.push(site.at(
                    "private-key-file",
                    Problem::InvalidValue("no crypto provider with signatures compiled in".into()),
                ));
                return;
            };
            if let Err(e) = LocalCredential::new(&provider, self.loaded.chain.clone(), key.clone())
            {
                out.push(site.at("private-key-file", Problem::Conflict(e.to_string())));
            }
        }
    }
}

/// Reads a PEM private key, refusing files that group or others may read.
fn read_private_key(path: &Path) -> Result<PrivateKeyDer, Problem> {
    let meta =
        std::fs::metadata(path).map_err(|e| Problem::Io(format!("{}: {e}", path.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(Problem::InvalidValue(format!(
                "{} is readable by group or others (mode {mode:04o}); chmod 600 it",
                path.display()
            )));
        }
    }
    #[cfg(not(unix))]
    let _ = meta;
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| Problem::Io(format!("{}: {e}", path.display())))?,
    );
    PrivateKeyDer::from_pem(&text)
        .map_err(|e| Problem::InvalidValue(format!("{}: {e}", path.display())))
}

/// Which certificate field the peer's identity must match: PAN-OS's `username-field`,
/// `{ subject = "common-name" }` or `{ subject-alt = "email" }`. Without it, RFC 4945's rule
/// applies (a DN against the subject, other identities against subjectAltNames of their kind).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UsernameField {
    /// The subject: a DN identity against the whole subject, others against its common name.
    Subject(SubjectField),
    /// subjectAltName entries only (the e-mail for ufqdn identities, the DNS name for fqdn,
    /// the address for ipaddr).
    SubjectAlt(SubjectAltField),
}

/// The subject field PAN-OS names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SubjectField {
    /// The common name (CN).
    CommonName,
}

/// The subjectAltName kinds PAN-OS names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SubjectAltField {
    /// rfc822Name (and, for IKE, the subjectAltName of the identity's own kind).
    Email,
    /// A Microsoft UPN: user authentication only, refused here.
    PrincipalName,
}

/// A certificate profile: the CAs trusted to vouch for peers, and which certificate field names
/// them.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CertificateProfile {
    /// Unique name.
    pub name: String,
    /// Trusted CA certificates, by certificate object name (roots, or intermediates trusted
    /// directly).
    #[serde(default)]
    pub ca: Vec<String>,
    /// The field the peer's identity must match; RFC 4945's rule when absent.
    #[serde(default)]
    pub username_field: Option<UsernameField>,
    /// Free text.
    #[serde(default)]
    pub comment: Option<String>,
}

impl CertificateProfile {
    /// A profile trusting `cas`.
    pub fn new(name: impl Into<String>, cas: Vec<String>) -> Self {
        CertificateProfile {
            name: name.into(),
            ca: cas,
            username_field: None,
            comment: None,
        }
    }

    /// The certificate field identities are matched against.
    pub fn field(&self) -> CertificateField {
        match self.username_field {
            None => CertificateField::SubjectOrAltName,
            Some(UsernameField::Subject(SubjectField::CommonName)) => {
                CertificateField::SubjectCommonName
            }
            Some(UsernameField::SubjectAlt(_)) => CertificateField::AltName,
        }
    }

    /// The trust store of this profile's CAs, as loaded in `config`.
    pub fn trust_store(&self, config: &super::Config) -> TrustStore {
        let cas = self
            .ca
            .iter()
            .filter_map(|n| config.certificate(n))
            .filter_map(|c| c.certificate().cloned())
            .collect();
        TrustStore::new(cas)
    }

    pub(crate) fn check(
        &self,
        names: &super::index::Names<'_>,
        site: &Site,
        out: &mut Vec<ConfigError>,
    ) {
        use super::error::Seg;
        if self.ca.is_empty() {
            out.push(site.at(
                "ca",
                Problem::InvalidValue("lists no CA certificate".into()),
            ));
        }
        for (i, name) in self.ca.iter().enumerate() {
            let at = vec![Seg::Key("ca".into()), Seg::Index(i, None)];
            match names.certificate(name) {
                None => out.push(site.err(
                    at,
                    Problem::Undefined {
                        kind: super::ObjectKind::Certificate,
                        name: name.clone(),
                    },
                )),
                Some(c) => {
                    if c.certificate().is_some_and(|cert| !cert.is_ca()) {
                        out.push(site.err(
                            at,
                            Problem::InvalidValue(format!(
                                "certificate \"{name}\" is not a CA certificate \
                                 (no basicConstraints cA)"
                            )),
                        ));
                    }
                }
            }
        }
        if let Some(UsernameField::SubjectAlt(SubjectAltField::PrincipalName)) = self.username_field
        {
            out.push(
                site.at2(
                    "username-field",
                    "subject-alt",
                    Problem::Unsupported(
                        "principal-name (a Windows UPN) has no IKE identity type; use email or \
                     subject common-name"
                            .into(),
                    ),
                ),
            );
        }
    }
}
