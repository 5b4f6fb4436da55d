//! The dashboard's own accounts: a versioned JSON file (`users.json`, mode 0600) in its
//! state directory, one Argon2id PHC string per user (random salt), a role and the datasets
//! the user may see. Created from the command line (`dtfhe dashboard add-user`); the
//! deployment never sees these accounts.

use crate::error::DashboardError;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// File name of the accounts in the state directory.
pub const USERS_FILE: &str = "users.json";
/// Format version of [`USERS_FILE`]; another version is refused, never guessed.
pub const USERS_FORMAT: u8 = 1;
/// Shortest password accepted by `add-user`.
pub const MIN_PASSWORD_LEN: usize = 10;
/// Longest password hashed (longer input is refused before any work).
pub const MAX_PASSWORD_LEN: usize = 1024;
/// Largest users file read (a bigger one is refused before parsing).
const MAX_FILE_BYTES: u64 = 4 << 20;

/// What a signed-in user may do. Every page checks the role it needs; a page of another role
/// answers 403 with nothing of its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The overview and the ready-made views of its datasets.
    Viewer,
    /// A viewer who may also run queries in the editor.
    Analyst,
    /// The overview and the audit view (ledger, checkpoint, verify now); no released values.
    Auditor,
    /// Everything, on every dataset it may see.
    Admin,
}

impl Role {
    /// The spelling on the command line and in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Analyst => "analyst",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }

    /// Parse the command-line spelling.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "analyst" => Some(Role::Analyst),
            "auditor" => Some(Role::Auditor),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    /// May see released numbers (ready-made views).
    pub fn sees_results(self) -> bool {
        matches!(self, Role::Viewer | Role::Analyst | Role::Admin)
    }

    /// May run queries in the editor.
    pub fn runs_queries(self) -> bool {
        matches!(self, Role::Analyst | Role::Admin)
    }

    /// May open the audit view.
    pub fn audits(self) -> bool {
        matches!(self, Role::Auditor | Role::Admin)
    }
}

/// One account.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// Sign-in name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Datasets the user may see: `["*"]` for every dataset, else their names.
    pub datasets: Vec<String>,
    /// Argon2id PHC string.
    hash: String,
}

// Never print the password hash.
impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("datasets", &self.datasets)
            .finish_non_exhaustive()
    }
}

impl User {
    /// Whether the user may see `dataset` (case-insensitive, as SQL names are).
    pub fn sees(&self, dataset: &str) -> bool {
        self.datasets
            .iter()
            .any(|d| d == "*" || d.eq_ignore_ascii_case(dataset))
    }

    /// Whether the user may see every one of `datasets` (what a view or report reading
    /// several datasets asks: one hidden dataset hides it all).
    pub fn sees_all<S: AsRef<str>>(&self, datasets: &[S]) -> bool {
        datasets.iter().all(|d| self.sees(d.as_ref()))
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersFile {
    format: u8,
    users: Vec<User>,
}

/// The accounts of one state directory.
#[derive(Debug, Clone)]
pub struct Users {
    path: PathBuf,
    users: Vec<User>,
}

fn check_name(name: &str) -> Result<(), DashboardError> {
    if dtfhe_model::names::is_party_name(name) {
        Ok(())
    } else {
        Err(DashboardError::Usage(format!(
            "user name `{}`: use 1-64 letters, digits, '-', '_' or '.', not starting with '.'",
            name.escape_debug()
        )))
    }
}

fn argon2() -> Argon2<'static> {
    Argon2::default()
}

/// Hash `password` (Argon2id, default parameters, random salt).
fn hash_password(password: &str) -> Result<String, DashboardError> {
    argon2()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| DashboardError::Hash(e.to_string()))
}

/// A fixed hash to verify against when the user is unknown, so an unknown name costs the
/// same time as a wrong password.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("dtfhe-dashboard-dummy").unwrap_or_default())
}

impl Users {
    /// The accounts in `state` (none yet if the file does not exist).
    pub fn load(state: &Path) -> Result<Users, DashboardError> {
        let path = state.join(USERS_FILE);
        let bad = |reason: String| DashboardError::UsersFile {
            path: path.display().to_string(),
            reason,
        };
        let bytes = match std::fs::metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Users {
                    path,
                    users: Vec::new(),
                })
            }
            Err(e) => return Err(DashboardError::io(&path, e)),
            Ok(m) if m.len() > MAX_FILE_BYTES => {
                return Err(bad(format!("{} bytes, at most {MAX_FILE_BYTES}", m.len())))
            }
            Ok(_) => std::fs::read(&path).map_err(|e| DashboardError::io(&path, e))?,
        };
        let users = Users::decode(&bytes).map_err(|e| match e {
            DashboardError::UsersFile { reason, .. } => bad(reason),
            other => other,
        })?;
        Ok(Users { path, users })
    }

    /// Decode the file's bytes: the format version first, then every field (unknown
    /// fields, a bad role, a bad name, a hash that is not a PHC string or a duplicate user
    /// are refused, naming the user).
    pub fn decode(bytes: &[u8]) -> Result<Vec<User>, DashboardError> {
        let bad = |reason: String| DashboardError::UsersFile {
            path: USERS_FILE.to_string(),
            reason,
        };
        #[derive(Deserialize)]
        struct Version {
            format: Option<serde_json::Value>,
        }
        let v: Version =
            serde_json::from_slice(bytes).map_err(|e| bad(format!("not JSON: {e}")))?;
        match v.format {
            Some(serde_json::Value::Number(n)) if n.as_u64() == Some(USERS_FORMAT.into()) => {}
            Some(other) => {
                return Err(bad(format!(
                    "format {other} is not {USERS_FORMAT}, the one this dashboard reads"
                )))
            }
            None => return Err(bad("no `format` field".into())),
        }
        let file: UsersFile = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        let mut seen = std::collections::BTreeSet::new();
        for u in &file.users {
            check_name(&u.name).map_err(|e| bad(e.to_string()))?;
            if !seen.insert(u.name.to_ascii_lowercase()) {
                return Err(bad(format!("user `{}` appears twice", u.name)));
            }
            let argon2id = PasswordHash::new(&u.hash)
                .map(|h| h.algorithm.as_str() == "argon2id")
                .unwrap_or(false);
            if !argon2id {
                return Err(bad(format!(
                    "user `{}`: the password hash is not an Argon2id PHC string",
                    u.name
                )));
            }
            if let Some(d) = u
                .datasets
                .iter()
                .find(|d| d.as_str() != "*" && !dtfhe_model::names::is_party_name(d.as_str()))
            {
                return Err(bad(format!(
                    "user `{}`: dataset `{}` is not a name",
                    u.name,
                    d.escape_debug()
                )));
            }
        }
        Ok(file.users)
    }

    /// Every account.
    pub fn all(&self) -> &[User] {
        &self.users
    }

    /// The account named `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&User> {
        self.users
            .iter()
            .find(|u| u.name.eq_ignore_ascii_case(name))
    }

    /// Add (or with `replace`, replace) an account and write the file (atomically, 0600).
    pub fn add(
        &mut self,
        name: &str,
        role: Role,
        datasets: &[String],
        password: &str,
        replace: bool,
    ) -> Result<(), DashboardError> {
        check_name(name)?;
        if password.chars().count() < MIN_PASSWORD_LEN || password.len() > MAX_PASSWORD_LEN {
            return Err(DashboardError::Usage(format!(
                "the password must have {MIN_PASSWORD_LEN} to {MAX_PASSWORD_LEN} characters"
            )));
        }
        if datasets.is_empty() {
            return Err(DashboardError::Usage(
                "--datasets: name at least one dataset, or `*` for every dataset".into(),
            ));
        }
        for d in datasets {
            if d != "*" && !dtfhe_model::names::is_party_name(d) {
                return Err(DashboardError::Usage(format!(
                    "--datasets: `{}` is not a dataset name",
                    d.escape_debug()
                )));
            }
        }
        if !replace && self.get(name).is_some() {
            return Err(DashboardError::Usage(format!(
                "user `{name}` exists (use --replace to set a new password or role)"
            )));
        }
        let user = User {
            name: name.to_string(),
            role,
            datasets: datasets.to_vec(),
            hash: hash_password(password)?,
        };
        self.users.retain(|u| !u.name.eq_ignore_ascii_case(name));
        self.users.push(user);
        self.save()
    }

    /// The account if `password` is its password. Unknown names cost the same work.
    pub fn verify(&self, name: &str, password: &str) -> Option<&User> {
        if password.len() > MAX_PASSWORD_LEN {
            return None;
        }
        let user = self.get(name);
        let hash = user.map_or_else(|| dummy_hash().to_string(), |u| u.hash.clone());
        let parsed = PasswordHash::new(&hash).ok()?;
        let ok = argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        if ok {
            user
        } else {
            None
        }
    }

    fn save(&self) -> Result<(), DashboardError> {
        let file = UsersFile {
            format: USERS_FORMAT,
            users: self.users.clone(),
        };
        let text = serde_json::to_vec_pretty(&file)
            .map_err(|e| DashboardError::Usage(format!("users file: {e}")))?;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| DashboardError::io(dir, e))?;
        let mut tmp =
            tempfile::NamedTempFile::new_in(dir).map_err(|e| DashboardError::io(dir, e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o600))
                .map_err(|e| DashboardError::io(tmp.path(), e))?;
        }
        std::io::Write::write_all(&mut tmp, &text)
            .map_err(|e| DashboardError::io(&self.path, e))?;
        tmp.as_file()
            .sync_all()
            .map_err(|e| DashboardError::io(&self.path, e))?;
        tmp.persist(&self.path)
            .map_err(|e| DashboardError::io(&self.path, e.error))?;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_view_of_several_datasets_needs_all_of_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut users = Users::load(dir.path()).unwrap();
        let one = ["ai4i".to_string(), "AI4I_Process".to_string()];
        users
            .add("vic", Role::Viewer, &one, "correct horse battery", false)
            .unwrap();
        users
            .add(
                "ada",
                Role::Admin,
                &["*".into()],
                "correct horse battery",
                false,
            )
            .unwrap();
        let vic = users.get("vic").unwrap();
        assert!(vic.sees_all(&["ai4i_process"]));
        assert!(!vic.sees_all(&["ai4i_process", "ai4i_service"]));
        assert!(!vic.sees_all(&["ai4i_service", "ai4i_process"]));
        assert!(vic.sees_all(&["ai4i", "ai4i_process"]));
        assert!(users
            .get("ada")
            .unwrap()
            .sees_all(&["ai4i_process", "ai4i_service"]));
    }

    /// A user file in a new directory with admin `alice` (password "correct horse battery")
    /// allowed `datasets`.
    fn with_alice(datasets: &str) -> (tempfile::TempDir, Users) {
        let dir = tempfile::tempdir().unwrap();
        let mut users = Users::load(dir.path()).unwrap();
        users
            .add(
                "alice",
                Role::Admin,
                &[datasets.into()],
                "correct horse battery",
                false,
            )
            .unwrap();
        (dir, users)
    }

    #[test]
    fn add_verify_and_reload() {
        let (dir, _) = with_alice("*");
        let again = Users::load(dir.path()).unwrap();
        assert!(again.verify("alice", "correct horse battery").is_some());
        assert!(again.verify("ALICE", "correct horse battery").is_some());
        assert!(again.verify("alice", "correct horse batterY").is_none());
        assert!(again.verify("bob", "correct horse battery").is_none());
        let text = std::fs::read_to_string(dir.path().join(USERS_FILE)).unwrap();
        assert!(!text.contains("correct horse"), "the password is stored");
        assert!(text.contains("$argon2id$"));
        dtfhe_testkit::assert_owner_only(&dir.path().join(USERS_FILE));
        // No duplicates without --replace; short passwords and bad names refused.
        let mut users = again;
        assert!(users
            .add(
                "Alice",
                Role::Viewer,
                &["*".into()],
                "another long one",
                false
            )
            .is_err());
        assert!(users
            .add("carol", Role::Viewer, &["*".into()], "short", false)
            .is_err());
        assert!(users
            .add("../x", Role::Viewer, &["*".into()], "long enough pw", false)
            .is_err());
        assert!(format!("{:?}", users.get("alice").unwrap())
            .find("argon2")
            .is_none());
    }

    #[test]
    fn corrupted_files_are_refused_with_the_field_named() {
        let (dir, _) = with_alice("ai4i");
        let path = dir.path().join(USERS_FILE);
        let good = std::fs::read_to_string(&path).unwrap();
        let cases = [
            (good.replace("\"format\": 1", "\"format\": 2"), "format 2"),
            (good.replace("\"format\": 1,", ""), "no `format`"),
            (good.replace("\"admin\"", "\"root\""), "unknown variant"),
            (good.replace("$argon2id$", "$nothing$"), "password hash"),
            (good.replace("\"alice\"", "\"../alice\""), "user name"),
            (good.replace("\"ai4i\"", "\"a i\""), "dataset"),
            (
                good.replace("\"role\"", "\"extra\": 1, \"role\""),
                "unknown field",
            ),
            (good[..good.len() / 2].to_string(), "JSON"),
        ];
        for (text, needle) in cases {
            std::fs::write(&path, &text).unwrap();
            let e = match Users::load(dir.path()) {
                Ok(_) => panic!("{needle}: accepted {text}"),
                Err(e) => e.to_string(),
            };
            assert!(e.contains(needle), "{needle}: {e}");
            assert!(!e.contains("$argon2"), "the hash leaked: {e}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// Hostile bytes in the users file: an error, never a panic.
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Users::decode(&bytes);
        }

        /// Valid JSON of the right shape with random strings: decoded or refused, never a
        /// panic.
        #[test]
        fn decode_random_fields(name in ".{0,20}", role in "[a-z]{0,8}", hash in ".{0,40}") {
            let text = serde_json::json!({"format": 1, "users": [
                {"name": name, "role": role, "datasets": ["*"], "hash": hash}
            ]}).to_string();
            let _ = Users::decode(text.as_bytes());
        }
    }
}
