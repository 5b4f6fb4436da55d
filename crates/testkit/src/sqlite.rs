//! Tampering with a SQLite store file as an attacker with file access would: the table's
//! append-only triggers dropped for one transaction, then put back.

/// The script that drops `table`'s triggers, runs `update`, restores the triggers and
/// commits, as one transaction.
pub fn bypassing_triggers(conn: &rusqlite::Connection, table: &str, update: &str) -> String {
    let triggers: Vec<(String, String)> = conn
        .prepare("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?1")
        .and_then(|mut s| {
            s.query_map([table], |r| Ok((r.get(0)?, r.get(1)?)))
                .and_then(|r| r.collect())
        })
        .expect("triggers");
    let mut script = String::from("BEGIN;\n");
    for (name, _) in &triggers {
        script.push_str(&format!(
            "DROP TRIGGER \"{}\";\n",
            name.replace('"', "\"\"")
        ));
    }
    script.push_str(update);
    script.push_str(";\n");
    for (_, sql) in &triggers {
        script.push_str(&format!("{sql};\n"));
    }
    script.push_str("COMMIT;\n");
    script
}

/// Runs `update` on the SQLite database `db` with `table`'s triggers bypassed (see
/// [`bypassing_triggers`]).
pub fn tamper(db: &std::path::Path, table: &str, update: &str) {
    let conn = rusqlite::Connection::open(db).expect("open the SQLite store");
    let script = bypassing_triggers(&conn, table, update);
    conn.execute_batch(&script).expect("tamper");
}
