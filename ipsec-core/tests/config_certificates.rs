//! Certificate objects, certificate profiles and certificate authentication on the IKE gateway:
//! the headquarters sample switched to certificates loads, and each mistake is named by object,
//! field and line.

use std::path::{Path, PathBuf};

use ipsec_core::config::{
    Authentication, CertificateAuth, CertificateObject, Config, ConfigError, ObjectKind, Problem,
};
use ipsec_core::crypto::KeyType;
use ipsec_core::pki::{CertificateField, PeerIdentity, UnixTime};

const HQ: &str = include_str!("../../examples/configs/hq.toml");
const PSK: &str = "authentication = { pre-shared-key = \"correct horse battery staple\" }";
const CERT_AUTH: &str = "authentication = { certificate = { local-certificate = \"hq\", certificate-profile = \"branches\" } }";

fn fixture(kind: &str, file: &str) -> PathBuf {
    [
        env!("CARGO_MANIFEST_DIR"),
        "..",
        "testdata",
        "pki",
        kind,
        file,
    ]
    .iter()
    .collect()
}

/// A temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A directory with the ECDSA P-256 fixtures copied in, keys at mode 0600 (git does not keep
/// modes, so the checked-out keys may be world-readable).
fn pki_dir(tag: &str) -> TempDir {
    let dir = std::env::temp_dir().join(format!("ipsec-config-certs-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for f in [
        "hq.crt",
        "hq.key",
        "branch.key",
        "intermediate-ca.crt",
        "root-ca.crt",
    ] {
        std::fs::copy(fixture("ecdsa-p256", f), dir.join(f)).unwrap();
    }
    // A certificate where a key belongs, readable only by its owner.
    std::fs::copy(
        fixture("ecdsa-p256", "root-ca.crt"),
        dir.join("cert-as-key.pem"),
    )
    .unwrap();
    for k in ["hq.key", "branch.key", "cert-as-key.pem"] {
        set_mode(&dir.join(k), 0o600);
    }
    // The certificate file with its intermediate after it.
    let chain = [
        std::fs::read_to_string(dir.join("hq.crt")).unwrap(),
        std::fs::read_to_string(dir.join("intermediate-ca.crt")).unwrap(),
    ]
    .concat();
    std::fs::write(dir.join("hq-chain.crt"), chain).unwrap();
    TempDir(dir)
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// hq.toml with certificate authentication, the objects it needs appended, and file paths
/// relative to the configuration's directory.
fn cert_config(dir: &Path) -> String {
    let root_pem = std::fs::read_to_string(dir.join("root-ca.crt")).unwrap();
    let text = HQ.replace(PSK, CERT_AUTH);
    format!(
        r#"{text}
[[certificate]]
name = "hq"
certificate-file = "hq-chain.crt"
private-key-file = "hq.key"

[[certificate]]
name = "root-ca"
public-key = """
{root_pem}"""

[[certificate-profile]]
name = "branches"
ca = ["root-ca"]
"#
    )
}

fn load(dir: &Path, text: &str) -> Result<Config, Vec<ConfigError>> {
    let file = dir.join("hq.toml");
    std::fs::write(&file, text).unwrap();
    Config::load(&file)
}

#[test]
fn certificate_authentication_loads_with_chain_key_and_profile() {
    let dir = pki_dir("ok");
    let c = load(&dir, &cert_config(&dir)).unwrap_or_else(|e| panic!("{e:#?}"));
    let gw = c.ike_gateway("gw-branch").unwrap();
    let auth = gw.certificate_auth().unwrap();
    assert_eq!(auth.local_certificate.as_deref(), Some("hq"));
    assert!(gw.pre_shared_key().is_none());
    let hq = c.certificate("hq").unwrap();
    assert_eq!(
        hq.chain().len(),
        2,
        "the intermediate after the certificate is kept"
    );
    assert_eq!(
        hq.certificate().unwrap().key_type().unwrap(),
        KeyType::EcdsaP256
    );
    assert!(hq.private_key().is_some());
    assert!(
        !format!("{hq:?}").contains("BEGIN"),
        "no PEM in Debug output"
    );
    let profile = c.certificate_profile("branches").unwrap();
    assert_eq!(profile.field(), CertificateField::SubjectOrAltName);
    // The profile's trust store validates the branch certificate; the summary counts objects.
    let store = profile.trust_store(&c);
    let branch = ipsec_core::pki::Certificate::from_pem_or_der(
        &std::fs::read(fixture("ecdsa-p256", "branch.crt")).unwrap(),
    )
    .unwrap()
    .remove(0);
    let now = UnixTime::from_secs(1_893_456_000);
    store
        .verify(&ipsec_core::crypto::default_provider(), &branch, &[], now)
        .unwrap();
    ipsec_core::pki::check_identity(
        &branch,
        PeerIdentity::Fqdn("branch.example.net"),
        profile.field(),
    )
    .unwrap();
    assert_eq!(c.count(ObjectKind::Certificate), 2);
    assert_eq!(c.names(ObjectKind::CertificateProfile), vec!["branches"]);
}

/// One mistake in the certificate configuration.
struct Case {
    what: &'static str,
    edits: &'static [(&'static str, &'static str)],
    object: (&'static str, &'static str),
    field: &'static str,
    /// The error is on the line holding this text.
    line_of: &'static str,
    /// A word the message must contain.
    says: &'static str,
}

const GW: (&str, &str) = ("ike-gateway", "gw-branch");
const HQ_CERT: (&str, &str) = ("certificate", "hq");
const PROFILE: (&str, &str) = ("certificate-profile", "branches");

fn cases() -> Vec<Case> {
    let c = |what, edits, object, field, line_of, says| Case {
        what,
        edits,
        object,
        field,
        line_of,
        says,
    };
    vec![
        c(
            "undefined local certificate",
            &[("local-certificate = \"hq\"", "local-certificate = \"hq2\"")],
            GW,
            "authentication.certificate.local-certificate",
            "hq2",
            "not defined",
        ),
        c(
            "undefined certificate profile",
            &[(
                "certificate-profile = \"branches\" }",
                "certificate-profile = \"others\" }",
            )],
            GW,
            "authentication.certificate.certificate-profile",
            "others",
            "not defined",
        ),
        c(
            "missing local certificate",
            &[("local-certificate = \"hq\", ", "")],
            GW,
            "authentication.certificate.local-certificate",
            "certificate-profile = \"branches\" }",
            "required",
        ),
        c(
            "local certificate without a key",
            &[("private-key-file = \"hq.key\"\n", "")],
            GW,
            "authentication.certificate.local-certificate",
            "local-certificate",
            "no private-key-file",
        ),
        c(
            "revocation checking asked for",
            &[(
                "certificate-profile = \"branches\" }",
                "certificate-profile = \"branches\", strict-validation-revocation = true }",
            )],
            GW,
            "authentication.certificate.strict-validation-revocation",
            "strict-validation-revocation",
            "revocation",
        ),
        c(
            "missing certificate file",
            &[(
                "certificate-file = \"hq-chain.crt\"",
                "certificate-file = \"nope.crt\"",
            )],
            HQ_CERT,
            "certificate-file",
            "nope.crt",
            "nope.crt",
        ),
        c(
            "not a certificate",
            &[(
                "certificate-file = \"hq-chain.crt\"",
                "certificate-file = \"hq.key\"",
            )],
            HQ_CERT,
            "certificate-file",
            "certificate-file = \"hq.key\"",
            "CERTIFICATE",
        ),
        c(
            "key of another certificate",
            &[(
                "private-key-file = \"hq.key\"",
                "private-key-file = \"branch.key\"",
            )],
            HQ_CERT,
            "private-key-file",
            "branch.key",
            "does not belong",
        ),
        c(
            "key file missing",
            &[(
                "private-key-file = \"hq.key\"",
                "private-key-file = \"gone.key\"",
            )],
            HQ_CERT,
            "private-key-file",
            "gone.key",
            "gone.key",
        ),
        c(
            "certificate as the key",
            &[(
                "private-key-file = \"hq.key\"",
                "private-key-file = \"cert-as-key.pem\"",
            )],
            HQ_CERT,
            "private-key-file",
            "cert-as-key.pem",
            "not a private key",
        ),
        c(
            "inline private key",
            &[(
                "private-key-file = \"hq.key\"",
                "private-key = \"-----BEGIN PRIVATE KEY-----\"",
            )],
            HQ_CERT,
            "private-key",
            "private-key = ",
            "private-key-file",
        ),
        c(
            "both file and PEM",
            &[(
                "certificate-file = \"hq-chain.crt\"",
                "certificate-file = \"hq-chain.crt\"\npublic-key = \"x\"",
            )],
            HQ_CERT,
            "public-key",
            "public-key = \"x\"",
            "not both",
        ),
        c(
            "neither file nor PEM",
            &[("certificate-file = \"hq-chain.crt\"\n", "")],
            HQ_CERT,
            "certificate-file",
            "[[certificate]]\nname = \"hq\"",
            "required",
        ),
        c(
            "profile without CAs",
            &[("ca = [\"root-ca\"]", "ca = []")],
            PROFILE,
            "ca",
            "ca = []",
            "no CA",
        ),
        c(
            "profile naming an undefined CA",
            &[("ca = [\"root-ca\"]", "ca = [\"root-ca\", \"lost-ca\"]")],
            PROFILE,
            "ca[1]",
            "lost-ca",
            "not defined",
        ),
        c(
            "profile trusting an end entity",
            &[("ca = [\"root-ca\"]", "ca = [\"hq\"]")],
            PROFILE,
            "ca[0]",
            "ca = [\"hq\"]",
            "not a CA",
        ),
        c(
            "UPN username field",
            &[(
                "ca = [\"root-ca\"]",
                "ca = [\"root-ca\"]\nusername-field = { subject-alt = \"principal-name\" }",
            )],
            PROFILE,
            "username-field.subject-alt",
            "principal-name",
            "principal-name",
        ),
        c(
            "unknown username field",
            &[(
                "ca = [\"root-ca\"]",
                "ca = [\"root-ca\"]\nusername-field = { subject = \"serial\" }",
            )],
            PROFILE,
            "username-field.subject",
            "serial",
            "serial",
        ),
        c(
            "unknown certificate field",
            &[(
                "private-key-file = \"hq.key\"",
                "private-key-file = \"hq.key\"\npassphrase = \"x\"",
            )],
            HQ_CERT,
            "passphrase",
            "passphrase",
            "unknown field",
        ),
        c(
            "peer-id dn that is not a DN",
            &[(
                "peer-id = { type = \"fqdn\", id = \"branch.example.net\" }",
                "peer-id = { type = \"dn\", id = \"branch.example.net\" }",
            )],
            GW,
            "peer-id.id",
            "peer-id",
            "distinguished name",
        ),
        c(
            "duplicate certificate name",
            &[("name = \"root-ca\"", "name = \"hq\"")],
            HQ_CERT,
            "name",
            "name = \"hq\"\npublic-key",
            "used twice",
        ),
    ]
}

fn line_of(text: &str, marker: &str) -> usize {
    let at = text
        .find(marker)
        .unwrap_or_else(|| panic!("marker {marker:?} not in text"));
    text[..at].matches('\n').count() + 1
}

#[test]
fn every_certificate_mistake_names_object_field_and_line() {
    let dir = pki_dir("broken");
    let base = cert_config(&dir);
    let mut failures = Vec::new();
    for case in cases() {
        let mut text = base.clone();
        for (from, to) in case.edits {
            assert!(
                text.contains(from),
                "{}: {from:?} not in the config",
                case.what
            );
            text = text.replacen(from, to, 1);
        }
        match load(&dir, &text) {
            Ok(_) => failures.push(format!("{}: loaded without error", case.what)),
            Err(errors) => {
                let want_line = line_of(&text, case.line_of);
                let hit = errors.iter().any(|e| {
                    e.object.as_ref().is_some_and(|o| {
                        o.kind.as_str() == case.object.0 && o.name.as_deref() == Some(case.object.1)
                    }) && e.field.as_deref() == Some(case.field)
                        && e.location.map(|l| l.line) == Some(want_line)
                        && e.to_string().contains(case.says)
                });
                if !hit {
                    let shown: Vec<String> = errors
                        .iter()
                        .map(|e| format!("{e}  [field {:?}]", e.field))
                        .collect();
                    failures.push(format!(
                        "{}: want {}/{} line {want_line}, got {shown:#?}",
                        case.what, case.object.1, case.field
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_key_readable_by_others_is_refused() {
    let dir = pki_dir("mode");
    set_mode(&dir.join("hq.key"), 0o644);
    let errors = load(&dir, &cert_config(&dir)).unwrap_err();
    let e = errors
        .iter()
        .find(|e| e.field.as_deref() == Some("private-key-file"))
        .unwrap_or_else(|| panic!("{errors:#?}"));
    assert!(e.to_string().contains("mode 0644"), "{e}");
    assert!(e.to_string().contains("chmod 600"), "{e}");
    assert!(matches!(e.problem, Problem::InvalidValue(_)));
    set_mode(&dir.join("hq.key"), 0o400);
    load(&dir, &cert_config(&dir)).unwrap();
}

#[test]
fn certificates_built_in_code() {
    let dir = pki_dir("code");
    let hq =
        CertificateObject::from_files("hq", dir.join("hq-chain.crt"), Some(dir.join("hq.key")))
            .unwrap();
    assert_eq!(hq.chain().len(), 2);
    let root_pem = std::fs::read_to_string(dir.join("root-ca.crt")).unwrap();
    let root = CertificateObject::from_pem("root-ca", &root_pem, None).unwrap();
    assert!(root.certificate().unwrap().is_ca());
    assert!(CertificateObject::from_pem("x", "not pem", None).is_err());
    let errors =
        CertificateObject::from_files("hq", dir.join("hq.crt"), Some(dir.join("missing.key")))
            .unwrap_err();
    assert_eq!(errors[0].field.as_deref(), Some("private-key-file"));

    let mut c = Config::from_toml_str(HQ).unwrap();
    c.certificates.push(hq);
    c.certificates.push(root);
    c.certificate_profiles
        .push(ipsec_core::config::CertificateProfile::new(
            "branches",
            vec!["root-ca".into()],
        ));
    c.ike_gateways[0].authentication =
        Authentication::Certificate(CertificateAuth::new("hq", "branches"));
    c.validate().unwrap_or_else(|e| panic!("{e:#?}"));
    c.ike_gateways[0].authentication =
        Authentication::Certificate(CertificateAuth::new("root-ca", "branches"));
    let errors = c.validate().unwrap_err();
    assert!(
        errors[0].to_string().contains("no private-key-file"),
        "{errors:#?}"
    );
    assert!(errors.iter().all(|e| e.location.is_none()));
}

#[test]
fn both_sample_configs_still_load_unchanged() {
    for f in ["hq.toml", "branch.toml"] {
        let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", "examples", "configs", f]
            .iter()
            .collect();
        let c = Config::load(&path).unwrap_or_else(|e| panic!("{f}: {e:#?}"));
        assert!(c.certificates.is_empty());
        assert!(c.ike_gateways.iter().all(|g| g.pre_shared_key().is_some()));
    }
}
