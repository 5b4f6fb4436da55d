-- dtfhe-store, migration 0005 for PostgreSQL: sealed artifacts (see ../0005_artifacts.sql).

CREATE TABLE artifacts (
    id          BIGINT PRIMARY KEY,
    product     TEXT COLLATE "C" NOT NULL CHECK (length(product) > 0),
    stage       TEXT COLLATE "C" NOT NULL
                CHECK (stage IN ('design', 'manufacturing', 'maintenance')),
    source      TEXT COLLATE "C" NOT NULL REFERENCES sources (name),
    name        TEXT COLLATE "C" NOT NULL CHECK (length(name) > 0),
    size        BIGINT NOT NULL CHECK (size >= 0),
    plain_hash  BYTEA  NOT NULL CHECK (length(plain_hash) = 32),
    sealed_hash BYTEA  NOT NULL CHECK (length(sealed_hash) = 32),
    sealed      BYTEA  NOT NULL,
    signature   BYTEA  NOT NULL CHECK (length(signature) = 64),
    sealed_at   TEXT COLLATE "C" NOT NULL,
    UNIQUE (product, name)
);
ALTER TABLE artifacts ALTER COLUMN sealed SET STORAGE EXTERNAL;

SELECT dtfhe_make_append_only('artifacts');
