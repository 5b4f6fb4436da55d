-- dtfhe-store, migration 0004: the shared product-lane map.
--
-- Per-product datasets (schema key `lanes`) place each product's record in a fixed SIMD
-- slot: lane L lives in block L / N, slot L mod N. The map product key -> lane is shared by
-- every dataset of the same lane space (the name of the key column, e.g. `product_id`), so
-- a manufacturing dataset and a maintenance dataset of different owners line up slot by slot
-- and a join on the product is one slot-wise product per block. Lanes are handed out in
-- order of first sight and never change.

CREATE TABLE lanes (
    space TEXT    NOT NULL,
    key   TEXT    NOT NULL,
    lane  INTEGER NOT NULL CHECK (lane >= 0),
    PRIMARY KEY (space, key),
    UNIQUE (space, lane)
);

CREATE TRIGGER lanes_no_update BEFORE UPDATE ON lanes
BEGIN SELECT RAISE(ABORT, 'lanes is append-only'); END;
CREATE TRIGGER lanes_no_delete BEFORE DELETE ON lanes
BEGIN SELECT RAISE(ABORT, 'lanes is append-only'); END;
