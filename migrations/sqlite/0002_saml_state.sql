-- SAML protocol state shared by every instance (SQLite dialect; twin in ../postgres).

-- AuthnRequests this SP issued: InResponseTo must name one, for the same
-- connection, unused and unexpired (SPEC §6). consumed_at makes it single use.
CREATE TABLE saml_requests (
    id             TEXT PRIMARY KEY NOT NULL,
    org_id         BLOB NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    connection_id  BLOB NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    return_to      TEXT,
    created_at     TEXT NOT NULL,
    expires_at     TEXT NOT NULL,
    consumed_at    TEXT
);
CREATE INDEX saml_requests_expiry ON saml_requests (expires_at);

-- Assertion ids seen, per connection, kept until the assertion's
-- NotOnOrAfter (plus skew) so a captured response cannot be posted again.
CREATE TABLE saml_replay (
    connection_id  BLOB NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    assertion_id   TEXT NOT NULL,
    expires_at     TEXT NOT NULL,
    PRIMARY KEY (connection_id, assertion_id)
);
CREATE INDEX saml_replay_expiry ON saml_replay (expires_at);
