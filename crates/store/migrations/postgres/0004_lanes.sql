-- dtfhe-store, migration 0004 for PostgreSQL: the shared product-lane map (see
-- ../0004_lanes.sql).

CREATE TABLE lanes (
    space TEXT COLLATE "C" NOT NULL,
    key   TEXT COLLATE "C" NOT NULL,
    lane  BIGINT NOT NULL CHECK (lane >= 0),
    PRIMARY KEY (space, key),
    UNIQUE (space, lane)
);

SELECT dtfhe_make_append_only('lanes');
