//! Part names a chunk may hold: value, presence, square and the threshold indicators gt{k}.

use dtfhe_model::{is_part_kind, MAX_INDICATOR_PARTS};

#[test]
fn indicator_parts_are_accepted_and_nothing_else() {
    for ok in ["value", "presence", "square", "gt0", "gt9", "gt10", "gt31"] {
        assert!(is_part_kind(ok), "{ok}");
    }
    assert_eq!(MAX_INDICATOR_PARTS, 32);
    for bad in [
        "", "gt", "gt32", "gt01", "gt-1", "gt+1", "gt1a", "GT1", "values", "lt0",
    ] {
        assert!(!is_part_kind(bad), "{bad}");
    }
}
