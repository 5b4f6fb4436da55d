-- dtfhe-store, migration 0006 for PostgreSQL: nonces of signed API requests (see
-- ../0006_request_nonces.sql).

CREATE TABLE request_nonces (
    identity TEXT COLLATE "C" NOT NULL CHECK (length(identity) > 0),
    nonce    TEXT COLLATE "C" NOT NULL CHECK (length(nonce) > 0),
    ts       BIGINT NOT NULL,
    PRIMARY KEY (identity, nonce)
);
CREATE INDEX request_nonces_ts ON request_nonces (ts);
