-- Gatehouse platform schema (PostgreSQL dialect). Twin: ../sqlite/0001_platform.sql.
-- Times are TIMESTAMPTZ written by the application (never DB defaults).
-- Case-insensitive uniqueness uses lower(): ASCII folding on SQLite, full
-- Unicode on PostgreSQL (docs/storage.md).

CREATE TABLE organizations (
    id                    UUID PRIMARY KEY NOT NULL,
    slug                  TEXT NOT NULL,
    name                  TEXT NOT NULL,
    jit_creation          BOOLEAN NOT NULL DEFAULT FALSE,
    hide_password_login   BOOLEAN NOT NULL DEFAULT FALSE,
    default_sso_role      INTEGER NOT NULL DEFAULT 10,
    profile_sync          TEXT NOT NULL DEFAULT 'import' CHECK (profile_sync IN ('import', 'force')),
    ms_id_as_external_id  BOOLEAN NOT NULL DEFAULT FALSE,
    created_at            TIMESTAMPTZ NOT NULL,
    updated_at            TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX organizations_slug ON organizations (lower(slug));

CREATE TABLE roles (
    org_id  UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    code    INTEGER NOT NULL CHECK (code > 0),
    name    TEXT NOT NULL,
    PRIMARY KEY (org_id, code)
);

CREATE TABLE locations (
    id           UUID PRIMARY KEY NOT NULL,
    org_id       UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    external_id  TEXT NOT NULL,
    name         TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    UNIQUE (org_id, external_id)
);

CREATE TABLE staff_groups (
    id           UUID PRIMARY KEY NOT NULL,
    org_id       UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    external_id  TEXT NOT NULL,
    name         TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    UNIQUE (org_id, external_id)
);

CREATE TABLE role_mappings (
    org_id         UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    external_role  TEXT NOT NULL,
    role_code      INTEGER NOT NULL,
    PRIMARY KEY (org_id, external_role),
    FOREIGN KEY (org_id, role_code) REFERENCES roles (org_id, code)
);

CREATE TABLE users (
    id                   UUID PRIMARY KEY NOT NULL,
    org_id               UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    username             TEXT NOT NULL CHECK (length(username) > 0),
    email                TEXT NOT NULL CHECK (length(email) > 0),
    first_name           TEXT,
    last_name            TEXT,
    display_name         TEXT,
    external_id          TEXT,
    job_title            TEXT,
    language             TEXT NOT NULL DEFAULT 'en' CHECK (language IN ('en', 'fr', 'es', 'de', 'nl', 'pt')),
    role                 INTEGER NOT NULL,
    staff_group_id       UUID REFERENCES staff_groups (id) ON DELETE SET NULL,
    status               TEXT NOT NULL CHECK (status IN ('active', 'archived', 'pending')),
    source               TEXT NOT NULL CHECK (source IN ('local', 'sso', 'directory')),
    directory_object_id  TEXT,
    password_hash        TEXT,
    created_at           TIMESTAMPTZ NOT NULL,
    updated_at           TIMESTAMPTZ NOT NULL,
    last_login_at        TIMESTAMPTZ,
    FOREIGN KEY (org_id, role) REFERENCES roles (org_id, code)
);
CREATE UNIQUE INDEX users_username ON users (org_id, lower(username));
CREATE UNIQUE INDEX users_email ON users (org_id, lower(email));
CREATE UNIQUE INDEX users_external_id ON users (org_id, external_id) WHERE external_id IS NOT NULL;
CREATE UNIQUE INDEX users_directory_object ON users (org_id, directory_object_id) WHERE directory_object_id IS NOT NULL;

CREATE TABLE user_locations (
    user_id      UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    location_id  UUID NOT NULL REFERENCES locations (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, location_id)
);

CREATE TABLE connections (
    id          UUID PRIMARY KEY NOT NULL,
    org_id      UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL CHECK (kind IN ('saml', 'oidc')),
    name        TEXT NOT NULL,
    enabled     BOOLEAN NOT NULL DEFAULT TRUE,
    config      TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE identity_links (
    id             UUID PRIMARY KEY NOT NULL,
    org_id         UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    connection_id  UUID NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    subject        TEXT NOT NULL,
    user_id        UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at     TIMESTAMPTZ NOT NULL,
    UNIQUE (connection_id, subject)
);
CREATE INDEX identity_links_user ON identity_links (user_id);

CREATE TABLE login_events (
    id             UUID PRIMARY KEY NOT NULL,
    org_id         UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    connection_id  UUID REFERENCES connections (id) ON DELETE SET NULL,
    user_id        UUID REFERENCES users (id) ON DELETE SET NULL,
    method         TEXT NOT NULL CHECK (method IN ('password', 'saml', 'oidc', 'recovery_link')),
    outcome        TEXT NOT NULL CHECK (outcome IN ('success', 'failure')),
    reason         TEXT NOT NULL,
    subject        TEXT,
    attempted_login TEXT,
    client_ip      TEXT,
    detail         TEXT NOT NULL DEFAULT '{}',
    created_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX login_events_org_time ON login_events (org_id, created_at);
CREATE INDEX login_events_attempt ON login_events (org_id, attempted_login, created_at);
CREATE INDEX login_events_client ON login_events (client_ip, created_at);
CREATE INDEX login_events_user ON login_events (user_id, created_at);

CREATE TABLE api_keys (
    id            UUID PRIMARY KEY NOT NULL,
    org_id        UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    scope         TEXT NOT NULL CHECK (scope IN ('admin', 'scim')),
    name          TEXT NOT NULL,
    secret_hash   BYTEA NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    last_used_at  TIMESTAMPTZ,
    revoked_at    TIMESTAMPTZ
);
CREATE INDEX api_keys_org ON api_keys (org_id);

CREATE TABLE recovery_tokens (
    token_hash  BYTEA PRIMARY KEY NOT NULL,
    org_id      UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id     UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ
);
