//! Shared helpers of the store tests: deterministic source keys, signed appends, and the
//! two backends every store test runs on (SQLite in a temporary directory, and a fresh
//! PostgreSQL database on the server named by `DTFHE_TEST_PG_URL`).
#![allow(dead_code, clippy::unwrap_used, missing_docs)]

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use dtfhe_model::{NewChunk, NewPart};
use dtfhe_store::{pg_sql, Deployment, Store, StoreError, StoreLocation, STORE_FILE};
pub use dtfhe_testkit::pg::PgDb;
use ed25519_dalek::SigningKey;

/// A deterministic signing key for a source name (tests only).
pub fn source_key(source: &str) -> SigningKey {
    SigningKey::from_bytes(blake3::hash(source.as_bytes()).as_bytes())
}

/// The schema text every store test registers its dataset `mfg` with.
pub const SCHEMA: &str = "[dataset]\nname = \"mfg\"\n";

/// A deployment record (fake keys: the store does not read them).
pub fn deployment() -> Deployment {
    Deployment {
        preset: "test".into(),
        trustees: vec!["acme".into(), "globex".into(), "initech".into()],
        min_group_size: 5,
        public_key: vec![1, 2, 3],
        relin_key: vec![4; 1000],
        created_at: "1700000000".into(),
    }
}

/// A part of a chunk.
pub fn part(column: &str, part: &str, bytes: Vec<u8>) -> NewPart {
    NewPart {
        column: column.into(),
        part: part.into(),
        bytes,
    }
}

/// A valid, unsigned chunk (seq 0) whose bytes depend on `n`.
pub fn chunk(n: u8) -> NewChunk {
    NewChunk {
        seq: 0,
        signature: [0; 64],
        origin: None,
        rows: 10 + u32::from(n),
        public: vec![n; 7],
        parts: vec![
            part("temp", "value", vec![n; 100]),
            part("temp", "presence", vec![n.wrapping_add(1); 50]),
        ],
    }
}

/// [`Store::append_chunks`] as an honest source: registers the source's key (once), gives
/// the chunks the next seqs after the source's last one and signs them.
pub fn append_signed(
    store: &mut Store,
    dataset: &str,
    schema_toml: &str,
    source: &str,
    chunks: &[NewChunk],
) -> Result<Vec<i64>, StoreError> {
    let key = source_key(source);
    store.register_source(source, &key.verifying_key())?;
    let base = store.last_seq(dataset, source)?.map_or(0, |l| l + 1);
    let signed: Vec<NewChunk> = chunks
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut c = c.clone();
            c.seq = base + i as u64;
            c.sign(dataset, source, &key);
            c
        })
        .collect();
    store.append_chunks(dataset, schema_toml, source, &signed)
}

// ---- Backends ----------------------------------------------------------------------

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The admin URL of the test PostgreSQL server, or `None` (after saying so, once) when the
/// PostgreSQL half is skipped. Under CI (`CI=true`) a missing server is a failure.
pub fn pg_admin_url() -> Option<String> {
    dtfhe_testkit::pg::admin_url("PostgreSQL store tests")
}

/// One test's store: a temporary directory (key files, and the SQLite file) and, on
/// PostgreSQL, a database of its own.
pub struct Env {
    pub backend: Backend,
    pub tmp: tempfile::TempDir,
    pub loc: StoreLocation,
    pub pg: Option<PgDb>,
}

impl Env {
    /// A fresh, empty environment; `None` if the PostgreSQL half is skipped.
    pub fn new(backend: Backend) -> Option<Env> {
        let tmp = tempfile::tempdir().unwrap();
        match backend {
            Backend::Sqlite => Some(Env {
                backend,
                tmp,
                loc: StoreLocation::Sqlite,
                pg: None,
            }),
            Backend::Postgres => {
                pg_admin_url()?;
                let db = PgDb::new("dtfhe_t", None);
                Some(Env {
                    backend,
                    tmp,
                    loc: StoreLocation::Postgres(db.url.clone()),
                    pg: Some(db),
                })
            }
        }
    }

    /// Another fresh environment on the same backend.
    pub fn fresh(&self) -> Env {
        Env::new(self.backend).unwrap()
    }

    /// A copy of this environment's store (database and key files); the store must be
    /// closed.
    pub fn copy(&self) -> Env {
        let tmp = tempfile::tempdir().unwrap();
        for file in std::fs::read_dir(self.dir()).unwrap() {
            let file = file.unwrap();
            if file.file_type().unwrap().is_file() {
                std::fs::copy(file.path(), tmp.path().join(file.file_name())).unwrap();
            }
        }
        let pg = self.pg.as_ref().map(|t| PgDb::new("dtfhe_t", Some(t)));
        Env {
            backend: self.backend,
            tmp,
            loc: match &pg {
                Some(db) => StoreLocation::Postgres(db.url.clone()),
                None => StoreLocation::Sqlite,
            },
            pg,
        }
    }

    pub fn is_pg(&self) -> bool {
        self.backend == Backend::Postgres
    }

    /// The store directory (key files; the SQLite file).
    pub fn dir(&self) -> &Path {
        self.tmp.path()
    }

    /// What error messages name as the store: the SQLite file or the database URL.
    pub fn store_name(&self) -> String {
        match &self.pg {
            Some(db) => db.name.clone(),
            None => STORE_FILE.to_string(),
        }
    }

    pub fn create(&self) -> Store {
        Store::create_at(self.dir(), &self.loc).unwrap()
    }

    pub fn try_create(&self) -> Result<Store, StoreError> {
        Store::create_at(self.dir(), &self.loc)
    }

    pub fn open(&self) -> Store {
        Store::open_at(self.dir(), &self.loc).unwrap()
    }

    pub fn try_open(&self) -> Result<Store, StoreError> {
        Store::open_at(self.dir(), &self.loc)
    }

    /// A connection as any database client (the append-only guards in force).
    pub fn raw(&self) -> Raw {
        match &self.pg {
            Some(db) => Raw::Pg(RefCell::new(
                postgres::Client::connect(&db.url, postgres::NoTls).unwrap(),
            )),
            None => Raw::Sqlite(rusqlite::Connection::open(self.dir().join(STORE_FILE)).unwrap()),
        }
    }

    /// A connection as an attacker with full control of the database: SQLite: the
    /// append-only triggers dropped and foreign keys off (file access); PostgreSQL: a
    /// superuser session with `session_replication_role = replica` (triggers and foreign
    /// keys bypassed).
    pub fn outside(&self) -> Raw {
        let c = self.raw();
        match &c {
            Raw::Sqlite(conn) => {
                let triggers: Vec<String> = conn
                    .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger'")
                    .unwrap()
                    .query_map([], |r| r.get(0))
                    .unwrap()
                    .map(Result::unwrap)
                    .collect();
                let mut sql = String::from("PRAGMA foreign_keys = OFF;");
                for t in triggers {
                    sql.push_str(&format!("DROP TRIGGER IF EXISTS {t};"));
                }
                conn.execute_batch(&sql).unwrap();
            }
            Raw::Pg(_) => c.batch("SET session_replication_role = replica").unwrap(),
        }
        c
    }
}

/// Runs a test body on both backends: `backends!(name, name2, ...)` makes, for each
/// `fn name(env: &Env)`, a module `name` with tests `sqlite` and `postgres`.
#[macro_export]
macro_rules! backends {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[test]
                fn sqlite() {
                    let env = $crate::common::Env::new($crate::common::Backend::Sqlite).unwrap();
                    super::$name(&env);
                }
                #[test]
                fn postgres() {
                    if let Some(env) = $crate::common::Env::new($crate::common::Backend::Postgres) {
                        super::$name(&env);
                    }
                }
            }
        )+
    };
}

/// A statement parameter for [`Raw`].
#[derive(Debug, Clone)]
pub enum V {
    I(i64),
    T(String),
    B(Vec<u8>),
}

/// A raw database connection (outside the store API), on either backend. SQL uses `?N`
/// placeholders on both.
pub enum Raw {
    Sqlite(rusqlite::Connection),
    Pg(RefCell<postgres::Client>),
}

impl Raw {
    pub fn is_pg(&self) -> bool {
        matches!(self, Raw::Pg(_))
    }

    /// Runs statements without parameters; the error as text.
    pub fn batch(&self, sql: &str) -> Result<(), String> {
        match self {
            Raw::Sqlite(c) => c.execute_batch(sql).map_err(|e| e.to_string()),
            Raw::Pg(c) => c.borrow_mut().batch_execute(sql).map_err(pg_err),
        }
    }

    /// Runs one statement; the error as text (the database's message included).
    pub fn execute(&self, sql: &str, params: &[V]) -> Result<u64, String> {
        match self {
            Raw::Sqlite(c) => {
                let p: Vec<rusqlite::types::Value> = params
                    .iter()
                    .map(|v| match v {
                        V::I(i) => rusqlite::types::Value::Integer(*i),
                        V::T(t) => rusqlite::types::Value::Text(t.clone()),
                        V::B(b) => rusqlite::types::Value::Blob(b.clone()),
                    })
                    .collect();
                c.execute(sql, rusqlite::params_from_iter(p))
                    .map(|n| n as u64)
                    .map_err(|e| e.to_string())
            }
            Raw::Pg(c) => {
                let boxed: Vec<Box<dyn postgres::types::ToSql + Sync>> = params
                    .iter()
                    .map(|v| -> Box<dyn postgres::types::ToSql + Sync> {
                        match v {
                            V::I(i) => Box::new(*i),
                            V::T(t) => Box::new(t.clone()),
                            V::B(b) => Box::new(b.clone()),
                        }
                    })
                    .collect();
                let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
                    boxed.iter().map(|b| b.as_ref()).collect();
                c.borrow_mut()
                    .execute(pg_sql(sql).as_str(), &refs)
                    .map_err(pg_err)
            }
        }
    }

    /// [`Raw::execute`] that must succeed.
    pub fn exec(&self, sql: &str, params: &[V]) -> u64 {
        self.execute(sql, params)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    fn rows(&self, sql: &str) -> Vec<Vec<Option<V>>> {
        match self {
            Raw::Sqlite(c) => {
                let mut st = c.prepare(sql).unwrap();
                let n = st.column_count();
                st.query_map([], |r| {
                    (0..n)
                        .map(|i| {
                            Ok(match r.get_ref(i)? {
                                rusqlite::types::ValueRef::Null => None,
                                rusqlite::types::ValueRef::Integer(v) => Some(V::I(v)),
                                rusqlite::types::ValueRef::Text(t) => {
                                    Some(V::T(String::from_utf8_lossy(t).into_owned()))
                                }
                                rusqlite::types::ValueRef::Blob(b) => Some(V::B(b.to_vec())),
                                rusqlite::types::ValueRef::Real(f) => Some(V::I(f as i64)),
                            })
                        })
                        .collect()
                })
                .unwrap()
                .map(Result::unwrap)
                .collect()
            }
            Raw::Pg(c) => {
                use postgres::types::Type;
                let rows = c
                    .borrow_mut()
                    .query(sql, &[])
                    .unwrap_or_else(|e| panic!("{sql}: {}", pg_err(e)));
                rows.iter()
                    .map(|r| {
                        r.columns()
                            .iter()
                            .enumerate()
                            .map(|(i, col)| {
                                let t = col.type_();
                                if *t == Type::INT8 {
                                    r.get::<_, Option<i64>>(i).map(V::I)
                                } else if *t == Type::INT4 {
                                    r.get::<_, Option<i32>>(i).map(|v| V::I(v.into()))
                                } else if *t == Type::BYTEA {
                                    r.get::<_, Option<Vec<u8>>>(i).map(V::B)
                                } else {
                                    r.get::<_, Option<String>>(i).map(V::T)
                                }
                            })
                            .collect()
                    })
                    .collect()
            }
        }
    }

    fn one(&self, sql: &str) -> Option<V> {
        let rows = self.rows(sql);
        rows.into_iter()
            .next()
            .and_then(|r| r.into_iter().next())
            .flatten()
    }

    /// Requires the database to refuse `sql` (an UPDATE or DELETE on `table`; `?1`, if any,
    /// bound to one byte) as a write to an append-only table.
    pub fn assert_append_only(&self, table: &str, sql: &str) {
        let params = if sql.contains("?1") {
            vec![V::B(vec![0])]
        } else {
            vec![]
        };
        let err = self.execute(sql, &params).unwrap_err();
        assert!(
            err.contains(&format!("{table} is append-only")),
            "{sql}: {err}"
        );
    }

    /// The value of a one-value query, of the kind `expected` names (`pick` takes it).
    fn one_of<T>(&self, sql: &str, expected: &str, pick: impl FnOnce(V) -> Option<T>) -> T {
        let v = self.one(sql);
        match v.clone().and_then(pick) {
            Some(t) => t,
            None => panic!("{sql}: expected {expected}, got {v:?}"),
        }
    }

    /// The integer of a one-value query.
    pub fn i64(&self, sql: &str) -> i64 {
        self.one_of(sql, "an integer", |v| match v {
            V::I(i) => Some(i),
            _ => None,
        })
    }

    /// The integers of the first column.
    pub fn i64s(&self, sql: &str) -> Vec<i64> {
        self.rows(sql)
            .into_iter()
            .map(|r| match r.into_iter().next().flatten() {
                Some(V::I(v)) => v,
                other => panic!("{sql}: expected integers, got {other:?}"),
            })
            .collect()
    }

    /// The text of a one-value query.
    pub fn text(&self, sql: &str) -> String {
        self.one_of(sql, "text", |v| match v {
            V::T(t) => Some(t),
            _ => None,
        })
    }

    /// The bytes of a one-value query.
    pub fn bytes(&self, sql: &str) -> Vec<u8> {
        self.one_of(sql, "bytes", |v| match v {
            V::B(b) => Some(b),
            _ => None,
        })
    }

    pub fn count(&self, table: &str) -> i64 {
        self.i64(&format!("SELECT COUNT(*) FROM {table}"))
    }

    /// Adds 1 to byte `at` (from the end if negative) of a bytes column in the row
    /// selected by `key`.
    pub fn bump_blob(&self, table: &str, col: &str, key: &str, at: isize) {
        let mut v = self.bytes(&format!("SELECT {col} FROM {table} WHERE {key}"));
        let i = if at < 0 {
            v.len() - at.unsigned_abs()
        } else {
            at as usize
        };
        v[i] = v[i].wrapping_add(1);
        assert_eq!(
            self.exec(
                &format!("UPDATE {table} SET {col} = ?1 WHERE {key}"),
                &[V::B(v)]
            ),
            1
        );
    }

    /// Replaces one character (byte `at`, ASCII) of a text column in the row selected by
    /// `key`.
    pub fn bump_text(&self, table: &str, col: &str, key: &str, at: isize) {
        let v = self.text(&format!("SELECT {col} FROM {table} WHERE {key}"));
        let mut b = v.into_bytes();
        let i = if at < 0 {
            b.len() - at.unsigned_abs()
        } else {
            at as usize
        };
        b[i] = if b[i] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            self.exec(
                &format!("UPDATE {table} SET {col} = ?1 WHERE {key}"),
                &[V::T(String::from_utf8(b).unwrap())]
            ),
            1
        );
    }
}

fn pg_err(e: postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{e}: {}", db.message()),
        None => e.to_string(),
    }
}

/// A path that does not exist, for messages.
pub fn nowhere() -> PathBuf {
    PathBuf::from("/nonexistent")
}
