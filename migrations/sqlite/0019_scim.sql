-- SCIM 2.0 provisioning (RFC 7643, RFC 7644): the people and groups an identity provider
-- (Entra ID, Okta) manages here. Timestamps are Unix epoch milliseconds, as everywhere.

-- A person provisioned over SCIM: the platform account (users) plus what SCIM needs to answer
-- with the resource it was given. `user_name_key` is the lower-cased userName (userName is
-- unique and case-insensitive, RFC 7643 §4.1.1); `resource` is the User resource as JSON
-- (without id and meta), the attributes the platform does not use kept as the provider sent them.
CREATE TABLE scim_users (
    user_id       BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    user_name     TEXT   NOT NULL,
    user_name_key TEXT   NOT NULL UNIQUE,
    external_id   TEXT,
    resource      TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX scim_users_external_id ON scim_users (external_id);

-- A group of the provider; its name (and external id) feed the `groups` of the role rules.
-- `display_name_key` is the lower-cased name: two groups may not differ only in case, since
-- the role rules name groups by name.
CREATE TABLE scim_groups (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    display_name     TEXT   NOT NULL,
    display_name_key TEXT   NOT NULL UNIQUE,
    external_id      TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX scim_groups_external_id ON scim_groups (external_id);

-- Members of the groups: SCIM-provisioned people only (no nested groups).
CREATE TABLE scim_group_members (
    group_id BIGINT NOT NULL REFERENCES scim_groups (id) ON DELETE CASCADE,
    user_id  BIGINT NOT NULL REFERENCES scim_users (user_id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX scim_group_members_user_id ON scim_group_members (user_id);
