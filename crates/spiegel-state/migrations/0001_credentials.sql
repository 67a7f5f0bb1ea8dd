-- Bearer tokens (hashes only) and client-certificate subjects: who may ask the API.
CREATE TABLE tokens (
    id TEXT PRIMARY KEY NOT NULL,
    principal_kind TEXT NOT NULL,
    principal_id TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    created TEXT NOT NULL,
    revoked TEXT
);

CREATE TABLE client_certificates (
    subject_der TEXT PRIMARY KEY NOT NULL,
    subject_text TEXT NOT NULL,
    principal_kind TEXT NOT NULL,
    principal_id TEXT NOT NULL,
    added TEXT NOT NULL
);

-- A counter per kind of state, raised in the same transaction as every change, so that a
-- server notices a change another process made by reading one row.
CREATE TABLE revisions (
    name TEXT PRIMARY KEY NOT NULL,
    revision BIGINT NOT NULL
);

INSERT INTO revisions (name, revision) VALUES ('credentials', 0);
