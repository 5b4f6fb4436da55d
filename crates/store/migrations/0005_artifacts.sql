-- dtfhe-store, migration 0005: sealed artifacts.
--
-- The design-stage files of a product's thread that are not numbers (CAD files, simulation
-- results, repair reports) are sealed at their source with an AEAD (XChaCha20-Poly1305)
-- under a key only that source holds; the store keeps the sealed bytes and can open none of
-- them. `sealed` is the 24-byte nonce followed by the ciphertext and its 16-byte tag;
-- `sealed_hash` is its blake3 hash, `plain_hash` the blake3 hash of the plaintext and `size`
-- the plaintext's length. The source signs (product, stage, source, name, size, plain_hash,
-- sealed_hash) with its registered ed25519 key (`signature`). Each row is bound to one
-- ArtifactSealed ledger entry written in the same transaction. A file name is unique per
-- product: an artifact is never replaced, only added under a new name.
--
-- Plain SQL again, except the SQLite trigger syntax.

CREATE TABLE artifacts (
    id          INTEGER PRIMARY KEY,
    product     TEXT    NOT NULL CHECK (length(product) > 0),
    stage       TEXT    NOT NULL CHECK (stage IN ('design', 'manufacturing', 'maintenance')),
    source      TEXT    NOT NULL REFERENCES sources (name),
    name        TEXT    NOT NULL CHECK (length(name) > 0),
    size        INTEGER NOT NULL CHECK (size >= 0),
    plain_hash  BLOB    NOT NULL CHECK (length(plain_hash) = 32),
    sealed_hash BLOB    NOT NULL CHECK (length(sealed_hash) = 32),
    sealed      BLOB    NOT NULL,
    signature   BLOB    NOT NULL CHECK (length(signature) = 64),
    sealed_at   TEXT    NOT NULL,
    UNIQUE (product, name)
);

CREATE TRIGGER artifacts_no_update BEFORE UPDATE ON artifacts
BEGIN SELECT RAISE(ABORT, 'artifacts is append-only'); END;
CREATE TRIGGER artifacts_no_delete BEFORE DELETE ON artifacts
BEGIN SELECT RAISE(ABORT, 'artifacts is append-only'); END;
