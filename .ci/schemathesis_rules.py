"""Rules of the API that its OpenAPI document cannot state, for `.ci/schemathesis`.

A schema describes one value at a time. A few rules relate a value to stored state (an owner
must be an active account) or to another value of the request (`from` before `to`); a
schema-valid request can break them, and the API answers 422 naming the field, as documented on
the operation. schemathesis' `positive_data_acceptance` check counts any 422 to a schema-valid
request as a finding, so for the operations listed here the script lets 422 through that check
(`python3 .ci/schemathesis_rules.py` prints the `schemathesis.toml` that says so), and the check
below holds each such 422 to the fields listed: a 422 naming any other field is still a
finding, as is a 422 without field errors.

Loaded as hooks (`SCHEMATHESIS_HOOKS=.ci/schemathesis_rules.py`).
"""

# Operation -> (fields whose rules reach beyond the schema, why). A field covers its members
# (`config` covers `config.url`, `scopes` covers `scopes[0]`).
BEYOND_SCHEMA = {
    "POST /api/v1/projects": (["owner_id"], "the owner must be an active account"),
    "PATCH /api/v1/projects/{id}": (["owner_id"], "the owner must be an active account"),
    "POST /api/v1/service-accounts/{id}/keys": (
        ["scopes"],
        "each scope must be granted by the service account's role",
    ),
    "POST /api/v1/projects/{id}/agents": (
        ["kind", "config"],
        "the kind must be a built-in kind or an installed agent package enabled in the project "
        "(a string of the package id pattern in the schema); the config must satisfy the schema "
        "of the kind beside it and name the project's connections",
    ),
    "PATCH /api/v1/projects/{id}/agents/{agent_id}": (
        ["config"],
        "the config must satisfy the agent's kind's schema and name the project's connections",
    ),
    "POST /api/v1/projects/{id}/connections": (
        ["plugin_id", "config", "base_url", "credential", "origins"],
        "the plugin must be installed; config, base URL, credential and origin overrides are "
        "checked against its manifest (an override names an origin the manifest declares, and "
        "its URL is held to the base URL's rules), and credential endpoints against the base URL",
    ),
    "PATCH /api/v1/projects/{id}/connections/{cid}": (
        ["config", "base_url", "credential", "origins"],
        "config, base URL, credential and origin overrides are checked against the plugin's "
        "manifest and each other",
    ),
    "POST /api/v1/projects/{id}/web-tasks": (
        ["target_url", "steps"],
        "the target and every step URL must be on the task's allowed hosts; selectors must "
        "parse; an extract step needs a page before it",
    ),
    "PATCH /api/v1/projects/{id}/web-tasks/{tid}": (
        ["target_url", "steps"],
        "the target and every step URL must be on the task's allowed hosts; selectors must "
        "parse; an extract step needs a page before it",
    ),
    "GET /api/v1/analytics/{section}": (
        ["from", "to"],
        "`from` before `to`, neither before 1970, at most 1000 buckets between them",
    ),
    "GET /api/v1/projects/{id}/analytics/{section}": (
        ["from", "to"],
        "`from` before `to`, neither before 1970, at most 1000 buckets between them",
    ),
    "GET /api/v1/admin/performance": (
        ["since"],
        "`since` before `until`, at most 90 days apart",
    ),
    "GET /api/v1/projects/{id}/agents/{agent_id}/metrics": (
        ["since"],
        "`since` before `until`",
    ),
}

# SCIM (`/scim/v2`) answers a request breaking a rule with a SCIM 400 (`scimType`), having no 422:
# the filter grammar, member ids that must be provisioned Users, a person needing an e-mail (in
# `emails` or as `userName`), PATCH paths naming the resource's attributes.
SCIM_BEYOND_SCHEMA = {
    "GET /scim/v2/Users": "the filter grammar (invalidFilter)",
    "GET /scim/v2/Groups": "the filter grammar (invalidFilter)",
    "GET /scim/v2/Groups/{id}": "the filter grammar (invalidFilter)",
    "POST /scim/v2/Users": "a person needs an e-mail address; attributes of the User schema only",
    "PUT /scim/v2/Users/{id}": "a person needs an e-mail address; attributes of the User schema only",
    "PATCH /scim/v2/Users/{id}": "paths name the User schema's attributes; the result must be a valid User",
    "POST /scim/v2/Groups": "members must be provisioned Users",
    "PUT /scim/v2/Groups/{id}": "members must be provisioned Users",
    "PATCH /scim/v2/Groups/{id}": "paths name the Group schema's attributes; members must be provisioned Users",
}

# Upload forms: `tags` and `metadata` are JSON text in a form part; the document gives their media
# type (`contentMediaType`) and shape in words, which generators and validators do not read.
for _label in ("POST /api/v1/projects/{id}/documents", "POST /api/v1/projects/{id}/documents/{doc_id}/versions"):
    BEYOND_SCHEMA[_label] = (["tags", "metadata"], "JSON text in a form part")

# Operation -> why it stays readable after the DELETE of its parent (use_after_free is off there).
KEPT_AFTER_DELETE = {
    "GET /api/v1/service-accounts/{id}": "DELETE deactivates a service account; it stays for audit",
    "GET /api/v1/service-accounts/{id}/keys": "DELETE deactivates a service account; its revoked "
    "keys stay listed for audit",
}

POSITIVE_STATUSES = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]


def covers(allowed, field):
    return any(field == a or field.startswith(a + ".") or field.startswith(a + "[") for a in allowed)


def config():
    """The schemathesis.toml that lets 422 through for the operations above."""
    lines = []
    for label in sorted(BEYOND_SCHEMA):
        statuses = ", ".join(f'"{s}"' for s in POSITIVE_STATUSES + ["422"])
        lines += [
            "[[operations]]",
            f'include-name = "{label}"',
            f"checks.positive_data_acceptance.expected-statuses = [{statuses}]",
            "",
        ]
    for label in sorted(SCIM_BEYOND_SCHEMA):
        statuses = ", ".join(f'"{s}"' for s in POSITIVE_STATUSES + ["400"])
        lines += [
            "[[operations]]",
            f'include-name = "{label}"',
            f"checks.positive_data_acceptance.expected-statuses = [{statuses}]",
            "",
        ]
    for label in sorted(KEPT_AFTER_DELETE):
        lines += [
            "[[operations]]",
            f'include-name = "{label}"',
            "checks.use_after_free.enabled = false",
            "",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(config())
else:
    import schemathesis

    # Document downloads: the bytes as uploaded, under the media type the uploader named (the
    # document declares `*/*`, `format: binary`). The generator uploads arbitrary bytes as
    # `application/json` or `text/plain`; they come back so, and need be neither JSON nor UTF-8.
    DOWNLOADS = {
        "GET /api/v1/projects/{id}/documents/{doc_id}/content",
        "GET /api/v1/projects/{id}/documents/{doc_id}/versions/{number}/content",
    }

    @schemathesis.deserializer("application/json", "application/scim+json", "text/plain", "text/markdown", "text/csv", "application/xml", "text/xml")
    def document_bytes(ctx, response):
        """Downloads as text without decoding errors; every other response as JSON (the API's only
        other media type among these)."""
        if ctx.operation.label in DOWNLOADS and 200 <= response.status_code < 300:
            return response.content.decode("utf-8", errors="replace")
        return response.json()

    @schemathesis.check
    def rules_beyond_the_schema(ctx, response, case):
        """A 422 to a schema-valid request names only fields whose rules the schema cannot state."""
        meta = case.meta
        if meta is None or not meta.generation.mode.is_positive or response.status_code != 422:
            return None
        rule = BEYOND_SCHEMA.get(case.operation.label)
        if rule is None:
            return None  # positive_data_acceptance reports it
        allowed, why = rule
        try:
            errors = response.json().get("errors") or []
        except ValueError:
            errors = []
        fields = [e.get("field", "") for e in errors if isinstance(e, dict)]
        outside = [f for f in fields if not covers(allowed, f)]
        if not fields or outside:
            raise AssertionError(
                f"Schema-valid request refused with 422 for {outside or 'no named field'}; only "
                f"{', '.join(allowed)} may be ({why})"
            )
        return None
