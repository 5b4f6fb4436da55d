//! The store's small SQL layer: one connection type over SQLite (rusqlite) and PostgreSQL
//! (the blocking `postgres` client), so the store logic (ledger writer, append rules,
//! verify, artifacts) is written once.
//!
//! SQL is written once with `?N` placeholders; for PostgreSQL they become `$N` (and
//! `CAST(.. AS BLOB)` becomes `CAST(.. AS BYTEA)`). Parameters are borrowed ([`Param`]), so
//! ciphertext blobs are bound without a copy; rows come back as owned [`Value`]s. Prepared
//! statements are cached on both backends.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;

use crate::error::StoreError;

/// A borrowed statement parameter.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Param<'a> {
    /// SQL NULL.
    Null,
    /// An integer (BIGINT / INTEGER).
    Int(i64),
    /// Text.
    Text(&'a str),
    /// Bytes (BLOB / BYTEA).
    Bytes(&'a [u8]),
}

impl From<i64> for Param<'_> {
    fn from(v: i64) -> Self {
        Param::Int(v)
    }
}
impl<'a> From<&'a str> for Param<'a> {
    fn from(v: &'a str) -> Self {
        Param::Text(v)
    }
}
impl<'a> From<&'a String> for Param<'a> {
    fn from(v: &'a String) -> Self {
        Param::Text(v)
    }
}
impl<'a> From<&'a [u8]> for Param<'a> {
    fn from(v: &'a [u8]) -> Self {
        Param::Bytes(v)
    }
}
impl<'a> From<&'a Vec<u8>> for Param<'a> {
    fn from(v: &'a Vec<u8>) -> Self {
        Param::Bytes(v)
    }
}
impl<'a, const N: usize> From<&'a [u8; N]> for Param<'a> {
    fn from(v: &'a [u8; N]) -> Self {
        Param::Bytes(v)
    }
}
impl<'a, T: Into<Param<'a>>> From<Option<T>> for Param<'a> {
    fn from(v: Option<T>) -> Self {
        v.map_or(Param::Null, Into::into)
    }
}

/// Statement parameters: `params![a, b, c]` converts each with `Param::from`.
macro_rules! params {
    () => { &[] as &[$crate::db::Param<'_>] };
    ($($x:expr),+ $(,)?) => { &[$($crate::db::Param::from($x)),+] as &[$crate::db::Param<'_>] };
}
pub(crate) use params;

/// An owned column value of a result row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// SQL NULL.
    Null,
    /// An integer.
    Int(i64),
    /// A floating-point number (SQLite only; never written by the store).
    Real(f64),
    /// Text.
    Text(String),
    /// Bytes.
    Bytes(Vec<u8>),
}

impl Value {
    fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "NULL",
            Value::Int(_) => "integer",
            Value::Real(_) => "real",
            Value::Text(_) => "text",
            Value::Bytes(_) => "bytes",
        }
    }
}

/// A result row of owned values.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row(Vec<Value>);

/// A database error of either backend, or a column of an unexpected type.
#[derive(Debug)]
pub(crate) enum DbError {
    Sqlite(rusqlite::Error),
    Pg(postgres::Error),
    Type {
        column: usize,
        expected: &'static str,
        found: &'static str,
    },
}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        DbError::Sqlite(e)
    }
}
impl From<postgres::Error> for DbError {
    fn from(e: postgres::Error) -> Self {
        DbError::Pg(e)
    }
}

impl Row {
    fn get(&self, i: usize) -> &Value {
        self.0.get(i).unwrap_or(&Value::Null)
    }
    fn mismatch(&self, i: usize, expected: &'static str) -> DbError {
        DbError::Type {
            column: i,
            expected,
            found: self.get(i).type_name(),
        }
    }
    /// Column `i` as an integer.
    pub(crate) fn i64(&self, i: usize) -> Result<i64, DbError> {
        self.opt_i64(i)?.ok_or_else(|| self.mismatch(i, "integer"))
    }
    /// Column `i` as an integer or NULL.
    pub(crate) fn opt_i64(&self, i: usize) -> Result<Option<i64>, DbError> {
        match self.get(i) {
            Value::Null => Ok(None),
            Value::Int(v) => Ok(Some(*v)),
            _ => Err(self.mismatch(i, "integer")),
        }
    }
    /// Column `i` as text.
    pub(crate) fn text(&self, i: usize) -> Result<String, DbError> {
        self.opt_text(i)?.ok_or_else(|| self.mismatch(i, "text"))
    }
    /// Column `i` as text or NULL.
    pub(crate) fn opt_text(&self, i: usize) -> Result<Option<String>, DbError> {
        match self.get(i) {
            Value::Null => Ok(None),
            Value::Text(v) => Ok(Some(v.clone())),
            _ => Err(self.mismatch(i, "text")),
        }
    }
    /// Column `i` as bytes.
    pub(crate) fn bytes(&self, i: usize) -> Result<Vec<u8>, DbError> {
        self.opt_bytes(i)?.ok_or_else(|| self.mismatch(i, "bytes"))
    }
    /// Column `i` as bytes or NULL.
    pub(crate) fn opt_bytes(&self, i: usize) -> Result<Option<Vec<u8>>, DbError> {
        match self.get(i) {
            Value::Null => Ok(None),
            Value::Bytes(v) => Ok(Some(v.clone())),
            _ => Err(self.mismatch(i, "bytes")),
        }
    }
    /// Column `i` as bytes, moved out of the row (for large blobs).
    pub(crate) fn take_bytes(&mut self, i: usize) -> Result<Vec<u8>, DbError> {
        match self.0.get_mut(i) {
            Some(Value::Bytes(v)) => Ok(std::mem::take(v)),
            _ => Err(self.mismatch(i, "bytes")),
        }
    }
}

/// Attaches the store location and the operation to a database error.
pub(crate) trait SqlContext<T> {
    /// Maps the error to [`StoreError::Sqlite`] or [`StoreError::Postgres`].
    fn ctx(self, path: &Path, op: &'static str) -> Result<T, StoreError>;
}

impl<T> SqlContext<T> for Result<T, DbError> {
    fn ctx(self, path: &Path, op: &'static str) -> Result<T, StoreError> {
        self.map_err(|e| store_error(e, path, op))
    }
}

/// A database error as the store reports it, naming the store and the operation.
pub(crate) fn store_error(e: DbError, path: &Path, op: &'static str) -> StoreError {
    match e {
        DbError::Sqlite(source) => StoreError::Sqlite {
            path: path.to_path_buf(),
            op,
            source,
        },
        DbError::Pg(source) => StoreError::Postgres {
            url: path.display().to_string(),
            op,
            source,
        },
        DbError::Type {
            column,
            expected,
            found,
        } => StoreError::CorruptRecord {
            path: path.to_path_buf(),
            what: format!("{op}: column {column} holds {found}, expected {expected}"),
        },
    }
}

impl<T> SqlContext<T> for rusqlite::Result<T> {
    fn ctx(self, path: &Path, op: &'static str) -> Result<T, StoreError> {
        self.map_err(DbError::Sqlite).ctx(path, op)
    }
}

impl<T> SqlContext<T> for Result<T, postgres::Error> {
    fn ctx(self, path: &Path, op: &'static str) -> Result<T, StoreError> {
        self.map_err(DbError::Pg).ctx(path, op)
    }
}

/// A PostgreSQL connection with its prepared-statement cache. Interior mutability: the
/// `postgres` client needs `&mut` for every call, the store's read API is `&self`.
pub(crate) struct PgConn {
    client: RefCell<postgres::Client>,
    stmts: RefCell<HashMap<String, postgres::Statement>>,
}

/// One database connection of either backend.
pub(crate) enum Db {
    Sqlite(rusqlite::Connection),
    Pg(Box<PgConn>),
}

/// The advisory lock every PostgreSQL write transaction takes first, so writers serialize
/// (the ledger's sequence is global); per database, so stores never contend.
const PG_WRITE_LOCK: i64 = 0x6474_6668_6573_7431; // "dtfhest1"

/// Translates store SQL (`?N` placeholders) to PostgreSQL (`$N`), for the store and for
/// tools that speak SQL to a store's database directly (the tests tamper with it as an
/// attacker would).
pub fn pg_sql(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out.replace(" AS BLOB)", " AS BYTEA)")
}

impl PgConn {
    /// Connects to `url` (`postgres://` or `postgresql://`).
    pub(crate) fn connect(url: &str) -> Result<PgConn, postgres::Error> {
        let client = postgres::Client::connect(url, postgres::NoTls)?;
        Ok(PgConn {
            client: RefCell::new(client),
            stmts: RefCell::new(HashMap::new()),
        })
    }

    fn statement(&self, sql: &str) -> Result<postgres::Statement, postgres::Error> {
        if let Some(s) = self.stmts.borrow().get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.borrow_mut().prepare(&pg_sql(sql))?;
        self.stmts.borrow_mut().insert(sql.to_string(), s.clone());
        Ok(s)
    }
}

fn pg_params<'p>(params: &'p [Param<'_>]) -> Vec<&'p (dyn postgres::types::ToSql + Sync)> {
    params
        .iter()
        .map(|p| p as &(dyn postgres::types::ToSql + Sync))
        .collect()
}

fn pg_row(r: &postgres::Row) -> Result<Row, DbError> {
    use postgres::types::Type;
    let mut out = Vec::with_capacity(r.len());
    for (i, col) in r.columns().iter().enumerate() {
        let ty = col.type_();
        let v = if *ty == Type::INT8 {
            r.try_get::<_, Option<i64>>(i)?.map(Value::Int)
        } else if *ty == Type::INT4 {
            r.try_get::<_, Option<i32>>(i)?
                .map(|v| Value::Int(v.into()))
        } else if *ty == Type::INT2 {
            r.try_get::<_, Option<i16>>(i)?
                .map(|v| Value::Int(v.into()))
        } else if *ty == Type::BOOL {
            r.try_get::<_, Option<bool>>(i)?
                .map(|v| Value::Int(v.into()))
        } else if *ty == Type::BYTEA {
            r.try_get::<_, Option<Vec<u8>>>(i)?.map(Value::Bytes)
        } else if *ty == Type::FLOAT8 {
            r.try_get::<_, Option<f64>>(i)?.map(Value::Real)
        } else {
            // TEXT, VARCHAR, NAME, BPCHAR, ...; anything else is a type error.
            match r.try_get::<_, Option<String>>(i) {
                Ok(v) => v.map(Value::Text),
                Err(_) => {
                    return Err(DbError::Type {
                        column: i,
                        expected: "integer, text or bytes",
                        found: "another PostgreSQL type",
                    })
                }
            }
        };
        out.push(v.unwrap_or(Value::Null));
    }
    Ok(Row(out))
}

fn sqlite_row(r: &rusqlite::Row<'_>, n: usize) -> rusqlite::Result<Row> {
    use rusqlite::types::ValueRef;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        out.push(match r.get_ref(i)? {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(v) => Value::Int(v),
            ValueRef::Real(v) => Value::Real(v),
            ValueRef::Text(t) => match std::str::from_utf8(t) {
                Ok(s) => Value::Text(s.to_string()),
                Err(_) => Value::Bytes(t.to_vec()),
            },
            ValueRef::Blob(b) => Value::Bytes(b.to_vec()),
        });
    }
    Ok(Row(out))
}

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match *self {
            Param::Null => ValueRef::Null,
            Param::Int(v) => ValueRef::Integer(v),
            Param::Text(s) => ValueRef::Text(s.as_bytes()),
            Param::Bytes(b) => ValueRef::Blob(b),
        }))
    }
}

impl postgres::types::ToSql for Param<'_> {
    fn to_sql(
        &self,
        ty: &postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        use postgres::types::{IsNull, ToSql, Type};
        match *self {
            Param::Null => Ok(IsNull::Yes),
            Param::Int(v) => {
                if *ty == Type::INT8 {
                    v.to_sql(ty, out)
                } else if *ty == Type::INT4 {
                    i32::try_from(v)?.to_sql(ty, out)
                } else if *ty == Type::INT2 {
                    i16::try_from(v)?.to_sql(ty, out)
                } else {
                    Err(format!("an integer parameter cannot be sent as {ty}").into())
                }
            }
            Param::Text(s) if <&str as ToSql>::accepts(ty) => s.to_sql(ty, out),
            Param::Bytes(b) if <&[u8] as ToSql>::accepts(ty) => b.to_sql(ty, out),
            Param::Text(_) | Param::Bytes(_) => {
                Err(format!("a {self:?} parameter cannot be sent as {ty}").into())
            }
        }
    }

    fn accepts(_: &postgres::types::Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

impl Db {
    /// Whether this is a PostgreSQL connection.
    pub(crate) fn is_pg(&self) -> bool {
        matches!(self, Db::Pg(_))
    }

    /// Runs one or more statements without parameters or results (DDL, BEGIN, ...).
    pub(crate) fn batch(&self, sql: &str) -> Result<(), DbError> {
        match self {
            Db::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Db::Pg(p) => Ok(p.client.borrow_mut().batch_execute(sql)?),
        }
    }

    /// Runs one statement; returns the number of rows changed.
    pub(crate) fn execute(&self, sql: &str, params: &[Param<'_>]) -> Result<u64, DbError> {
        match self {
            Db::Sqlite(c) => {
                let n = c
                    .prepare_cached(sql)?
                    .execute(rusqlite::params_from_iter(params))?;
                Ok(n as u64)
            }
            Db::Pg(p) => {
                let st = p.statement(sql)?;
                Ok(p.client.borrow_mut().execute(&st, &pg_params(params))?)
            }
        }
    }

    /// Runs a query and calls `f` on each row as it arrives (no other query may run from
    /// `f`); a database error names the store (`path`) and `op`.
    pub(crate) fn for_each(
        &self,
        sql: &str,
        params: &[Param<'_>],
        path: &Path,
        op: &'static str,
        f: impl FnMut(Row) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.each(sql, params, |e| store_error(e, path, op), f)
    }

    fn each<E>(
        &self,
        sql: &str,
        params: &[Param<'_>],
        conv: impl Fn(DbError) -> E,
        mut f: impl FnMut(Row) -> Result<(), E>,
    ) -> Result<(), E> {
        match self {
            Db::Sqlite(c) => {
                let mut st = c.prepare_cached(sql).map_err(|e| conv(e.into()))?;
                let n = st.column_count();
                let mut rows = st
                    .query(rusqlite::params_from_iter(params))
                    .map_err(|e| conv(e.into()))?;
                while let Some(r) = rows.next().map_err(|e| conv(e.into()))? {
                    f(sqlite_row(r, n).map_err(|e| conv(e.into()))?)?;
                }
                Ok(())
            }
            Db::Pg(p) => {
                use postgres::fallible_iterator::FallibleIterator as _;
                let st = p.statement(sql).map_err(|e| conv(e.into()))?;
                let mut client = p.client.borrow_mut();
                let mut it = client
                    .query_raw(&st, pg_params(params))
                    .map_err(|e| conv(e.into()))?;
                while let Some(r) = it.next().map_err(|e| conv(e.into()))? {
                    f(pg_row(&r).map_err(&conv)?)?;
                }
                Ok(())
            }
        }
    }

    /// All rows of a query.
    pub(crate) fn query_rows(&self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>, DbError> {
        let mut out = Vec::new();
        self.each(
            sql,
            params,
            |e| e,
            |r| {
                out.push(r);
                Ok(())
            },
        )?;
        Ok(out)
    }

    /// All rows of a query, each read by `read`.
    pub(crate) fn query_map<T>(
        &self,
        sql: &str,
        params: &[Param<'_>],
        read: impl Fn(&Row) -> Result<T, DbError>,
    ) -> Result<Vec<T>, DbError> {
        self.query_rows(sql, params)?.iter().map(read).collect()
    }

    /// The first row of a query, if any.
    pub(crate) fn query_opt(
        &self,
        sql: &str,
        params: &[Param<'_>],
    ) -> Result<Option<Row>, DbError> {
        match self {
            Db::Sqlite(c) => {
                let mut st = c.prepare_cached(sql)?;
                let n = st.column_count();
                let mut rows = st.query(rusqlite::params_from_iter(params))?;
                Ok(match rows.next()? {
                    Some(r) => Some(sqlite_row(r, n)?),
                    None => None,
                })
            }
            Db::Pg(p) => {
                let st = p.statement(sql)?;
                let rows = p.client.borrow_mut().query(&st, &pg_params(params))?;
                rows.first().map(pg_row).transpose()
            }
        }
    }

    /// The first row of a query, if any, read by `read` (which owns the row, so it may take
    /// its bytes out without a copy).
    pub(crate) fn query_opt_map<T>(
        &self,
        sql: &str,
        params: &[Param<'_>],
        read: impl FnOnce(Row) -> Result<T, DbError>,
    ) -> Result<Option<T>, DbError> {
        self.query_opt(sql, params)?.map(read).transpose()
    }

    /// The first row of a query that always returns one (aggregates, RETURNING).
    pub(crate) fn query_one(&self, sql: &str, params: &[Param<'_>]) -> Result<Row, DbError> {
        self.query_opt(sql, params)?.ok_or(match self {
            Db::Sqlite(_) => DbError::Sqlite(rusqlite::Error::QueryReturnedNoRows),
            Db::Pg(_) => DbError::Type {
                column: 0,
                expected: "a row",
                found: "no row",
            },
        })
    }

    /// Starts a write transaction. SQLite: `BEGIN IMMEDIATE` (takes the write lock up
    /// front). PostgreSQL: READ COMMITTED plus the store's advisory lock, held until the
    /// transaction ends, so writers run one at a time.
    pub(crate) fn begin_write(&self) -> Result<(), DbError> {
        match self {
            Db::Sqlite(_) => self.batch("BEGIN IMMEDIATE"),
            Db::Pg(_) => {
                self.batch("BEGIN ISOLATION LEVEL READ COMMITTED")?;
                let locked = self
                    .execute("SELECT pg_advisory_xact_lock(?1)", params![PG_WRITE_LOCK])
                    .map(|_| ());
                if locked.is_err() {
                    let _ = self.batch("ROLLBACK");
                }
                locked
            }
        }
    }

    /// Starts a read-only transaction over one consistent snapshot.
    pub(crate) fn begin_read(&self) -> Result<(), DbError> {
        match self {
            Db::Sqlite(_) => self.batch("BEGIN DEFERRED"),
            Db::Pg(_) => self.batch("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"),
        }
    }

    /// Commits the open transaction.
    pub(crate) fn commit(&self) -> Result<(), DbError> {
        self.batch("COMMIT")
    }

    /// Rolls the open transaction back (errors ignored: there may be none open).
    pub(crate) fn rollback(&self) {
        let _ = self.batch("ROLLBACK");
    }
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbError::Sqlite(e) => e.fmt(f),
            DbError::Pg(e) => e.fmt(f),
            DbError::Type {
                column,
                expected,
                found,
            } => write!(f, "column {column} holds {found}, expected {expected}"),
        }
    }
}
