//! What differs between two schemas of one dataset: the message when a source brings a
//! schema that is not the registered one, so the user sees which columns or fields changed
//! instead of only "different schema".

use crate::schema::{ColumnKind, ColumnSpec, Schema};

/// One field of a column, as the schema would spell it (`None`: not applicable).
fn fields(c: &ColumnSpec) -> Vec<(&'static str, String)> {
    let mut out = vec![
        ("source", c.source.clone()),
        ("nullable", c.nullable.to_string()),
        ("role", if c.key { "key" } else { "attribute" }.to_string()),
    ];
    match &c.kind {
        ColumnKind::Public(t) => {
            out.push(("kind", "public".into()));
            out.push(("type", t.as_str().into()));
        }
        ColumnKind::Encrypted(e) => {
            out.push(("kind", "encrypted".into()));
            out.push(("scale", e.codec.scale.to_string()));
            out.push(("min", e.codec.min_text()));
            out.push(("max", e.codec.max_text()));
            out.push(("usage", e.usage.as_str().into()));
            let t: Vec<String> = e
                .thresholds
                .iter()
                .map(|&x| e.codec.scaled_text(x))
                .collect();
            out.push(("thresholds", format!("[{}]", t.join(", "))));
            out.push(("round", e.round.to_string()));
        }
    }
    out
}

/// The differences from `registered` to `given`, one line each (`column "torque": scale 1
/// → 2`, `column "x" added`, …). Empty when both declare the same dataset and columns (the
/// texts may still differ in comments, key order or formatting: the caller says so).
pub fn differences(registered: &Schema, given: &Schema) -> Vec<String> {
    let mut out = Vec::new();
    let mut field = |what: String, a: String, b: String| {
        if a != b {
            out.push(format!("{what}: {a} → {b}"));
        }
    };
    field(
        "stage".into(),
        registered.stage.as_str().into(),
        given.stage.as_str().into(),
    );
    field(
        "csv delimiter".into(),
        format!("{:?}", registered.csv.delimiter.map(char::from)),
        format!("{:?}", given.csv.delimiter.map(char::from)),
    );
    field(
        "csv header".into(),
        registered.csv.header.to_string(),
        given.csv.header.to_string(),
    );
    field(
        "lanes".into(),
        format!("{:?}", registered.lanes),
        format!("{:?}", given.lanes),
    );
    for r in &registered.columns {
        match given.columns.iter().find(|g| g.name == r.name) {
            None => out.push(format!("column \"{}\" removed", r.name)),
            Some(g) => {
                let fg = fields(g);
                for (k, a) in fields(r) {
                    // Fields of the other kind are not compared: the kind line says it.
                    match fg.iter().find(|(kg, _)| *kg == k) {
                        Some((_, b)) if *b != a => {
                            out.push(format!("column \"{}\": {k} {a} → {b}", r.name))
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    for g in &given.columns {
        if !registered.columns.iter().any(|r| r.name == g.name) {
            out.push(format!("column \"{}\" added", g.name));
        }
    }
    let order = |s: &Schema| s.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
    if out.is_empty() && order(registered) != order(given) {
        out.push(format!(
            "column order: {} → {}",
            order(registered).join(", "),
            order(given).join(", ")
        ));
    }
    out
}

/// The sentence for a schema that is not the registered one: the differences, or, when the
/// declarations are the same, that only the text differs (the registered text must be used
/// byte for byte, since sources and trustees check the schema by its hash).
pub fn describe_conflict(registered: &Schema, given: &Schema) -> String {
    let d = differences(registered, given);
    if d.is_empty() {
        "the declarations are the same but the text differs (comments, key order or \
         formatting); use the registered schema file byte for byte"
            .to_string()
    } else {
        format!("differs from the registered schema in: {}", d.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
dataset = "d"
stage = "design"
[[columns]]
name = "torque"
kind = "encrypted"
scale = 1
min = 0.0
max = 100.0
[[columns]]
name = "line"
type = "text"
kind = "public"
"#;

    fn schema(text: &str) -> Schema {
        Schema::from_toml_str(text, "t").expect("schema")
    }

    #[test]
    fn names_each_changed_field_added_and_removed_column() {
        let a = schema(BASE);
        let b = schema(
            &BASE
                .replace("scale = 1", "scale = 2")
                .replace("name = \"line\"", "name = \"cell\""),
        );
        let d = differences(&a, &b);
        assert!(
            d.contains(&"column \"torque\": scale 1 → 2".to_string()),
            "{d:?}"
        );
        assert!(d.contains(&"column \"line\" removed".to_string()), "{d:?}");
        assert!(d.contains(&"column \"cell\" added".to_string()), "{d:?}");
        assert_eq!(
            d.len(),
            5,
            "scale, min, max texts change with the scale: {d:?}"
        );
        let same = schema(&format!("# comment\n{BASE}"));
        assert!(differences(&a, &same).is_empty());
        assert!(describe_conflict(&a, &same).contains("byte for byte"));
        let kind = schema(&BASE.replace("type = \"text\"", "type = \"integer\""));
        assert_eq!(
            differences(&a, &kind),
            vec!["column \"line\": type text → integer".to_string()]
        );
    }
}
