//! snmpv3_credentials.yaml: SNMPv3 users and their credentials (the seed design's format).
//!
//! ```yaml
//! snmpv3_credentials:
//!   - username: snmpuser
//!     credentials:
//!       - priority: 1          # lower first; only active ones are tried
//!         auth_type: SHA       # MD5, SHA (SHA-1), SHA224, SHA256, SHA384, SHA512, none
//!         auth_password: ...
//!         priv_type: AES       # DES, AES (AES-128), AES192, AES256, AES192C, AES256C, none
//!         priv_password: ...
//!         active: true
//! ```
//!
//! Spellings are case-insensitive and may carry a hyphen (`SHA-256`, `AES-128`). `AES192`/`AES256`
//! extend short keys as net-snmp does (Blumenthal), `AES192C`/`AES256C` as Cisco does (Reeder).
//! Every error names the file, the line and the field. Passwords are held in [`Secret`], which
//! prints as `***`, so no Debug, log or error message can show one.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

use super::privacy::PrivProtocol;
use super::usm::AuthProtocol;

/// A password. Debug and Display print `***`; only [`Secret::expose`] gives the octets.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Secret {
        Secret(bytes.into())
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        d.deserialize_str(SecretVisitor)
    }
}

/// serde's own type errors quote the value (`invalid type: integer `12345678``); a password
/// written as a number or boolean must not be echoed, so every non-string is refused here.
struct SecretVisitor;

impl SecretVisitor {
    fn not_a_string<E: serde::de::Error>() -> E {
        E::custom("the password must be a string (quote it)")
    }
}

impl serde::de::Visitor<'_> for SecretVisitor {
    type Value = Secret;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a password string")
    }

    /// An empty string is read as written; [`RawCredential::check`] refuses it unless the
    /// protocol is `none` (the seed writes `priv_password: ''` for authNoPriv users).
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Secret, E> {
        Ok(Secret(v.as_bytes().to_vec()))
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Secret, E> {
        Err(Self::not_a_string())
    }

    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Secret, E> {
        Err(Self::not_a_string())
    }

    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Secret, E> {
        Err(Self::not_a_string())
    }

    fn visit_i128<E: serde::de::Error>(self, _: i128) -> Result<Secret, E> {
        Err(Self::not_a_string())
    }

    fn visit_u128<E: serde::de::Error>(self, _: u128) -> Result<Secret, E> {
        Err(Self::not_a_string())
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Secret, E> {
        Err(Self::not_a_string())
    }
}

/// One way to authenticate (and decrypt) a user's messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub priority: i64,
    /// None: noAuth (the user's messages carry no MAC).
    pub auth: Option<(AuthProtocol, Secret)>,
    /// None: noPriv.
    pub privacy: Option<(PrivProtocol, Secret)>,
    pub active: bool,
    /// Position in the file, unique across users: the key-cache handle of this credential.
    pub id: u32,
}

/// All users, each with credentials sorted by priority.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    users: HashMap<String, Vec<Credential>>,
}

impl Credentials {
    /// The user's credentials, by priority (inactive ones included).
    pub fn user(&self, name: &str) -> Option<&[Credential]> {
        self.users.get(name).map(Vec::as_slice)
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The highest [`Credential::id`]; None when there are no credentials.
    pub fn max_id(&self) -> Option<u32> {
        self.users.values().flatten().map(|c| c.id).max()
    }

    /// Build from code (tests, tools); ids are assigned in order.
    pub fn from_users(users: Vec<(String, Vec<Credential>)>) -> Credentials {
        let mut out = Credentials::default();
        let mut id = 0u32;
        for (name, mut creds) in users {
            for c in &mut creds {
                c.id = id;
                id += 1;
            }
            creds.sort_by_key(|c| c.priority);
            out.users.entry(name).or_default().extend(creds);
        }
        out
    }

    /// Read and check a credentials file.
    pub fn load(path: &Path) -> Result<Credentials, CredentialsError> {
        let text = std::fs::read_to_string(path).map_err(|e| CredentialsError {
            file: path.to_path_buf(),
            line: None,
            field: String::new(),
            message: format!("cannot read: {e}"),
            not_found: e.kind() == std::io::ErrorKind::NotFound,
        })?;
        Credentials::from_yaml(&text, path)
    }

    /// Parse and check credentials text; `path` names it in errors.
    pub fn from_yaml(text: &str, path: &Path) -> Result<Credentials, CredentialsError> {
        let de = serde_yaml::Deserializer::from_str(text);
        let file: RawFile = serde_path_to_error::deserialize(de).map_err(|e| {
            let field = e.path().to_string();
            let inner = e.into_inner();
            CredentialsError {
                file: path.to_path_buf(),
                line: line_of_path(text, &field).or(inner.location().map(|l| l.line())),
                field: if field == "." { String::new() } else { field },
                message: strip_location(&inner.to_string()),
                not_found: false,
            }
        })?;
        let mut users = Vec::new();
        for (u, user) in file.snmpv3_credentials.into_iter().enumerate() {
            let mut creds = Vec::new();
            for (c, raw) in user.credentials.into_iter().enumerate() {
                let at = |field: &str, message: &str| CredentialsError {
                    file: path.to_path_buf(),
                    line: line_of(text, u, c, field),
                    field: format!("snmpv3_credentials[{u}].credentials[{c}].{field}"),
                    message: message.to_owned(),
                    not_found: false,
                };
                creds.push(raw.check(&at)?);
            }
            users.push((user.username, creds));
        }
        Ok(Credentials::from_users(users))
    }
}

/// A credentials file error: `file:line: field: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialsError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub field: String,
    pub message: String,
    /// The file does not exist (the daemon runs without v3 users then).
    pub not_found: bool,
}

impl fmt::Display for CredentialsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for CredentialsError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    snmpv3_credentials: Vec<RawUser>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    username: String,
    credentials: Vec<RawCredential>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCredential {
    #[serde(default)]
    priority: i64,
    #[serde(default)]
    auth_type: AuthType,
    auth_password: Option<Secret>,
    #[serde(default)]
    priv_type: PrivType,
    priv_password: Option<Secret>,
    #[serde(default = "yes")]
    active: bool,
}

fn yes() -> bool {
    true
}

impl RawCredential {
    fn check(
        self,
        at: &dyn Fn(&str, &str) -> CredentialsError,
    ) -> Result<Credential, CredentialsError> {
        // The seed's loader requires both password keys, so its files write `''` where a
        // protocol is none: an empty password then means no password.
        let given = |pw: Option<Secret>| pw.filter(|p| !p.0.is_empty());
        if self.auth_type.0.is_some() && self.auth_password.as_ref().is_some_and(|p| p.0.is_empty())
        {
            return Err(at("auth_password", "the password is empty"));
        }
        if self.priv_type.0.is_some() && self.priv_password.as_ref().is_some_and(|p| p.0.is_empty())
        {
            return Err(at("priv_password", "the password is empty"));
        }
        let auth = match (self.auth_type.0, given(self.auth_password)) {
            (Some(p), Some(pw)) => Some((p, pw)),
            (Some(_), None) => return Err(at("auth_password", "required when auth_type is set")),
            (None, Some(_)) => return Err(at("auth_password", "given but auth_type is none")),
            (None, None) => None,
        };
        let privacy = match (self.priv_type.0, given(self.priv_password)) {
            (Some(_), _) if auth.is_none() => {
                return Err(at("priv_type", "privacy needs authentication (auth_type)"))
            }
            (Some(p), Some(pw)) => Some((p, pw)),
            (Some(_), None) => return Err(at("priv_password", "required when priv_type is set")),
            (None, Some(_)) => return Err(at("priv_password", "given but priv_type is none")),
            (None, None) => None,
        };
        Ok(Credential {
            priority: self.priority,
            auth,
            privacy,
            active: self.active,
            id: 0,
        })
    }
}

/// `auth_type` as written; None is `none`.
#[derive(Default)]
struct AuthType(Option<AuthProtocol>);

impl<'de> Deserialize<'de> for AuthType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<AuthType, D::Error> {
        let s = String::deserialize(d)?;
        parse_auth(&s).map(AuthType).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown auth_type {s:?}; expected MD5, SHA, SHA224, SHA256, SHA384, SHA512 or none"
            ))
        })
    }
}

/// `priv_type` as written; None is `none`.
#[derive(Default)]
struct PrivType(Option<PrivProtocol>);

impl<'de> Deserialize<'de> for PrivType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<PrivType, D::Error> {
        let s = String::deserialize(d)?;
        parse_priv(&s).map(PrivType).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown priv_type {s:?}; expected DES, AES, AES192, AES256, AES192C, AES256C or none"
            ))
        })
    }
}

/// Upper case without hyphens, underscores or spaces: `sha-256` → `SHA256`.
fn squash(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, '-' | '_' | ' '))
        .collect::<String>()
        .to_ascii_uppercase()
}

pub fn parse_auth(s: &str) -> Option<Option<AuthProtocol>> {
    Some(Some(match squash(s).as_str() {
        "NONE" | "NOAUTH" | "" => return Some(None),
        "MD5" | "HMACMD5" => AuthProtocol::Md5,
        "SHA" | "SHA1" | "HMACSHA" => AuthProtocol::Sha1,
        "SHA224" => AuthProtocol::Sha224,
        "SHA256" => AuthProtocol::Sha256,
        "SHA384" => AuthProtocol::Sha384,
        "SHA512" => AuthProtocol::Sha512,
        _ => return None,
    }))
}

pub fn parse_priv(s: &str) -> Option<Option<PrivProtocol>> {
    Some(Some(match squash(s).as_str() {
        "NONE" | "NOPRIV" | "" => return Some(None),
        "DES" | "CBCDES" => PrivProtocol::Des,
        "AES" | "AES128" => PrivProtocol::Aes128,
        "AES192" => PrivProtocol::Aes192,
        "AES256" => PrivProtocol::Aes256,
        "AES192C" => PrivProtocol::Aes192Cisco,
        "AES256C" => PrivProtocol::Aes256Cisco,
        _ => return None,
    }))
}

/// yaml_serde appends `at line N column M`; the line is reported separately.
fn strip_location(message: &str) -> String {
    let m = message.split(" at line ").next().unwrap_or(message);
    match m.split_once(": ") {
        Some((head, rest)) if !head.is_empty() && !head.contains(' ') => rest.to_owned(),
        _ => m.to_owned(),
    }
}

/// The line of a serde path `snmpv3_credentials[u].credentials[c].field`, when it is one.
fn line_of_path(text: &str, path: &str) -> Option<usize> {
    let rest = path.strip_prefix("snmpv3_credentials[")?;
    let (u, rest) = rest.split_once("].credentials[")?;
    let (c, field) = rest.split_once("].")?;
    line_of(text, u.parse().ok()?, c.parse().ok()?, field)
}

/// The line of `field` in credential `c` of user `u`, found by counting list items: the file is
/// well-formed YAML by now, so a `- ` at the user and credential indents starts each item.
fn line_of(text: &str, u: usize, c: usize, field: &str) -> Option<usize> {
    let items = |indent_of: &dyn Fn(&str) -> bool, from: usize, nth: usize, stop: Option<usize>| {
        text.lines()
            .enumerate()
            .skip(from)
            .take_while(|(i, _)| stop.map_or(true, |s| *i < s))
            .filter(|(_, l)| indent_of(l))
            .nth(nth)
            .map(|(i, _)| i)
    };
    let indent = |l: &str| l.len() - l.trim_start().len();
    let top = text
        .lines()
        .position(|l| l.trim_start().starts_with("snmpv3_credentials:"))?;
    let user_indent = text
        .lines()
        .skip(top + 1)
        .find(|l| l.trim_start().starts_with("- "))
        .map(indent)?;
    let is_user = |l: &str| indent(l) == user_indent && l.trim_start().starts_with("- ");
    let user = items(&is_user, top + 1, u, None)?;
    let next_user = items(&is_user, user + 1, 0, None);
    let creds = items(
        &|l: &str| l.trim_start().starts_with("credentials:"),
        user,
        0,
        next_user,
    )?;
    let cred_indent = text
        .lines()
        .skip(creds + 1)
        .find(|l| l.trim_start().starts_with("- "))
        .map(indent)?;
    let is_cred = |l: &str| indent(l) == cred_indent && l.trim_start().starts_with("- ");
    let cred = items(&is_cred, creds + 1, c, next_user)?;
    let next_cred = items(&is_cred, cred + 1, 0, next_user).or(next_user);
    let key = format!("{field}:");
    text.lines()
        .enumerate()
        .skip(cred)
        .take_while(|(i, _)| next_cred.map_or(true, |s| *i < s))
        .find(|(_, l)| l.trim_start().trim_start_matches("- ").starts_with(&key))
        .map(|(i, _)| i + 1)
        .or(Some(cred + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED: &str = include_str!("../../../config/snmpv3_credentials.yaml");

    fn parse(text: &str) -> Result<Credentials, CredentialsError> {
        Credentials::from_yaml(text, Path::new("creds.yaml"))
    }

    #[test]
    fn the_shipped_file_loads_with_its_priorities() {
        let c = parse(SHIPPED).unwrap();
        assert_eq!(c.len(), 2);
        let u = c.user("snmpuser").unwrap();
        assert_eq!(u.len(), 2);
        assert_eq!(u[0].priority, 1);
        assert!(
            !u[0].active && !u[1].active,
            "published example passwords ship inactive"
        );
        assert_eq!(u[0].auth.as_ref().unwrap().0, AuthProtocol::Sha1);
        assert_eq!(u[0].privacy.as_ref().unwrap().0, PrivProtocol::Aes128);
        let o = c.user("otheruser").unwrap();
        assert_eq!(o[0].privacy.as_ref().unwrap().0, PrivProtocol::Des);
        assert_ne!(u[0].id, o[0].id);
    }

    #[test]
    fn passwords_never_appear_in_debug_output() {
        let c = parse(SHIPPED).unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("authpass123"), "{shown}");
        assert!(!shown.contains("privpass456"), "{shown}");
        assert!(shown.contains("***"));
    }

    #[test]
    fn protocol_spellings_are_forgiving() {
        assert_eq!(parse_auth("sha-256"), Some(Some(AuthProtocol::Sha256)));
        assert_eq!(parse_auth("SHA"), Some(Some(AuthProtocol::Sha1)));
        assert_eq!(parse_auth("None"), Some(None));
        assert_eq!(parse_auth("SHA3"), None);
        assert_eq!(parse_priv("aes-128"), Some(Some(PrivProtocol::Aes128)));
        assert_eq!(
            parse_priv("AES-256C"),
            Some(Some(PrivProtocol::Aes256Cisco))
        );
        assert_eq!(parse_priv("3DES"), None);
    }

    #[test]
    fn an_unknown_protocol_names_file_line_and_field() {
        let text = SHIPPED.replacen("auth_type: MD5", "auth_type: MD6", 1);
        let e = parse(&text).unwrap_err();
        let line = text.lines().position(|l| l.contains("MD6")).unwrap() + 1;
        assert_eq!(e.line, Some(line), "{e}");
        assert_eq!(e.field, "snmpv3_credentials[1].credentials[0].auth_type");
        assert!(
            e.to_string().starts_with(&format!("creds.yaml:{line}: ")),
            "{e}"
        );
        assert!(e.message.contains("MD6"), "{e}");
    }

    #[test]
    fn a_missing_password_names_its_credential() {
        let text = SHIPPED.replacen("        priv_password: privpass_new\n", "", 1);
        let e = parse(&text).unwrap_err();
        assert_eq!(
            e.field,
            "snmpv3_credentials[0].credentials[1].priv_password"
        );
        let line = text
            .lines()
            .position(|l| l.contains("authpass_new"))
            .unwrap()
            + 1;
        let found = e.line.unwrap();
        assert!(found >= line - 3 && found <= line + 3, "{e}");
        assert!(!e.to_string().contains("authpass"), "{e}");
    }

    #[test]
    fn a_password_written_as_a_number_is_its_text_and_others_are_not_echoed() {
        let text = SHIPPED.replacen("auth_password: authpass789", "auth_password: 87654321", 1);
        let c = parse(&text).unwrap();
        let auth = c.user("otheruser").unwrap()[0].auth.as_ref().unwrap();
        assert_eq!(auth.1.expose(), b"87654321");
        let text = SHIPPED.replacen("auth_password: authpass789", "auth_password: [secret99]", 1);
        let e = parse(&text).unwrap_err();
        assert!(!e.to_string().contains("secret99"), "{e}");
        assert_eq!(
            e.field,
            "snmpv3_credentials[1].credentials[0].auth_password"
        );
    }

    #[test]
    fn privacy_without_authentication_is_refused() {
        let text = "snmpv3_credentials:\n  - username: u\n    credentials:\n      - priority: 1\n        auth_type: none\n        priv_type: AES\n        priv_password: secret123\n";
        let e = parse(text).unwrap_err();
        assert_eq!(e.line, Some(6), "{e}");
        assert_eq!(e.field, "snmpv3_credentials[0].credentials[0].priv_type");
    }

    #[test]
    fn a_seed_format_file_with_empty_passwords_for_protocol_none_loads() {
        let text = "snmpv3_credentials:\n\
                    \x20 - username: authpriv\n    credentials:\n\
                    \x20     - priority: 1\n        auth_type: SHA\n        auth_password: authpass123\n\
                    \x20       priv_type: AES\n        priv_password: privpass456\n        active: true\n\
                    \x20 - username: authonly\n    credentials:\n\
                    \x20     - priority: 1\n        auth_type: SHA256\n        auth_password: authpass123\n\
                    \x20       priv_type: none\n        priv_password: ''\n        active: true\n\
                    \x20 - username: noauth\n    credentials:\n\
                    \x20     - priority: 1\n        auth_type: none\n        auth_password: ''\n\
                    \x20       priv_type: none\n        priv_password: ''\n        active: true\n";
        let c = parse(text).unwrap();
        let authpriv = &c.user("authpriv").unwrap()[0];
        assert!(authpriv.auth.is_some() && authpriv.privacy.is_some());
        let authonly = &c.user("authonly").unwrap()[0];
        assert_eq!(authonly.auth.as_ref().unwrap().0, AuthProtocol::Sha256);
        assert_eq!(authonly.privacy, None);
        let noauth = &c.user("noauth").unwrap()[0];
        assert_eq!(
            (noauth.auth.is_none(), noauth.privacy.is_none()),
            (true, true)
        );
    }

    #[test]
    fn an_empty_password_for_a_real_protocol_is_still_refused() {
        let text = SHIPPED.replacen("priv_password: privpass_new", "priv_password: ''", 1);
        let e = parse(&text).unwrap_err();
        assert_eq!(
            e.field,
            "snmpv3_credentials[0].credentials[1].priv_password"
        );
        assert_eq!(e.message, "the password is empty");
        let line = text
            .lines()
            .position(|l| l.contains("priv_password: ''"))
            .unwrap()
            + 1;
        assert_eq!(e.line, Some(line), "{e}");
        let text = SHIPPED.replacen("auth_password: authpass789", "auth_password: \"\"", 1);
        let e = parse(&text).unwrap_err();
        assert_eq!(
            e.field,
            "snmpv3_credentials[1].credentials[0].auth_password"
        );
        assert_eq!(e.message, "the password is empty");
    }

    #[test]
    fn a_misspelt_field_is_an_error_with_its_line() {
        let text = "snmpv3_credentials:\n  - username: u\n    credentials:\n      - priority: 1\n        auth_typ: SHA\n";
        let e = parse(text).unwrap_err();
        assert_eq!(e.line, Some(5), "{e}");
        assert!(e.message.contains("auth_typ"), "{e}");
    }
}
