//! From an ID token's claims to what the platform decides: may this person sign in, and with
//! which role. Pure functions over the claims as JSON, so every provider's shape (Entra ID
//! `groups`/`roles`/`tid`, Google `hd`, Keycloak `realm_access.roles`, Okta `groups`) is one
//! dotted claim path in a rule.

use serde_json::Value;

use super::config::ProviderConfig;
use crate::rbac::Role;

/// Why a verified person may still not sign in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The e-mail is missing, unverified or outside the allowed domains.
    #[error("{0}")]
    Email(String),
    /// The token's tenant (`tid`) or hosted domain (`hd`) is not allowed.
    #[error("the account's tenant or domain is not allowed to sign in here")]
    Tenant,
    /// No rule matched and there is no default role.
    #[error("no role is mapped to this account's groups or roles; ask an administrator")]
    NoRole,
    /// Entra ID left the groups out of the token (more than 200 groups: the "overage" case,
    /// `_claim_names.groups`), a rule needs them, and they were not read from Microsoft Graph
    /// (a safeguard: a sign-in reads them before the rules run, see [`super::graph`]).
    #[error(
        "the provider left the groups out of the token (too many groups) and they were not \
         read from Microsoft Graph"
    )]
    GroupsOverage,
}

/// The value at a dotted path (`realm_access.roles`), if any.
pub fn claim_at<'a>(claims: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(claims, |at, key| at.as_object().and_then(|o| o.get(key)))
}

/// Whether the claim at `path` is `value` or a list containing it (strings compared exactly;
/// booleans and numbers by the value `value` spells).
fn claim_matches(claims: &Value, path: &str, value: &str) -> bool {
    let same = |v: &Value| match v {
        Value::String(s) => s == value,
        Value::Bool(b) => value.parse::<bool>().ok() == Some(*b),
        Value::Number(n) => n
            .as_f64()
            .is_some_and(|x| value.parse::<f64>().ok() == Some(x)),
        _ => false,
    };
    match claim_at(claims, path) {
        Some(Value::Array(items)) => items.iter().any(same),
        Some(v) => same(v),
        None => false,
    }
}

/// Whether the token left the groups out (Entra ID's overage marker `_claim_names.groups`)
/// while a role rule needs them: then they must be read from Microsoft Graph first.
pub fn groups_overage(provider: &ProviderConfig, claims: &Value) -> bool {
    claim_at(claims, "_claim_names.groups").is_some()
        && provider.role_rules.iter().any(|r| r.claim == "groups")
}

/// Puts the groups read from Microsoft Graph where the token would have had them (`groups`) and
/// drops the overage marker, so the rules see the person as a token with room would show them.
pub fn set_groups(claims: &mut Value, groups: Vec<String>) {
    let Some(object) = claims.as_object_mut() else {
        return;
    };
    if let Some(Value::Object(names)) = object.get_mut("_claim_names") {
        names.remove("groups");
    }
    object.insert(
        "groups".into(),
        Value::Array(groups.into_iter().map(Value::String).collect()),
    );
}

/// The role the rules give, or why none.
pub fn role_for(provider: &ProviderConfig, claims: &Value) -> Result<Role, Refusal> {
    // Checked first: with the groups missing, a later rule or the default must not decide.
    if groups_overage(provider, claims) {
        return Err(Refusal::GroupsOverage);
    }
    if let Some(rule) = provider
        .role_rules
        .iter()
        .find(|r| claim_matches(claims, &r.claim, &r.value))
    {
        return Ok(rule.role);
    }
    provider.default_role.ok_or(Refusal::NoRole)
}

/// The person's e-mail (lower-cased) and whether the provider verified it; checks the allowed
/// domains and tenants.
pub fn admit(provider: &ProviderConfig, claims: &Value) -> Result<Option<(String, bool)>, Refusal> {
    if !provider.allowed_tenants.is_empty() {
        let tenant = ["tid", "hd"]
            .iter()
            .filter_map(|c| claims.get(c).and_then(Value::as_str))
            .find(|t| provider.allowed_tenants.iter().any(|a| a == t));
        if tenant.is_none() {
            return Err(Refusal::Tenant);
        }
    }
    let email = claims
        .get("email")
        .and_then(Value::as_str)
        .map(|e| e.trim().to_lowercase())
        .filter(|e| e.contains('@') && e.len() <= 254);
    let verified = claims
        .get("email_verified")
        .is_some_and(|v| v.as_bool() == Some(true) || v.as_str() == Some("true"));
    if !provider.allowed_email_domains.is_empty() {
        let Some(email) = &email else {
            return Err(Refusal::Email(
                "the provider sent no e-mail address, and this provider admits only some domains"
                    .into(),
            ));
        };
        if !verified {
            return Err(Refusal::Email(
                "the provider has not verified the e-mail address".into(),
            ));
        }
        let domain = email.rsplit('@').next().unwrap_or_default();
        if !provider
            .allowed_email_domains
            .iter()
            .any(|d| d.eq_ignore_ascii_case(domain))
        {
            return Err(Refusal::Email(format!(
                "e-mail addresses of {domain} may not sign in here"
            )));
        }
    }
    Ok(email.map(|e| (e, verified)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::auth::oidc::config::RoleRule;

    fn provider(rules: &[(&str, &str, Role)], default: Option<Role>) -> ProviderConfig {
        ProviderConfig {
            role_rules: rules
                .iter()
                .map(|(c, v, r)| RoleRule {
                    claim: (*c).into(),
                    value: (*v).into(),
                    role: *r,
                })
                .collect(),
            default_role: default,
            ..Default::default()
        }
    }

    #[test]
    fn first_matching_rule_wins_over_lists_nested_paths_and_scalars() {
        let p = provider(
            &[
                ("groups", "platform-admins", Role::Administrator),
                ("realm_access.roles", "pm", Role::ProjectManager),
                ("hd", "example.com", Role::SupportEngineer),
            ],
            None,
        );
        let admin = json!({"groups": ["staff", "platform-admins"], "hd": "example.com"});
        assert_eq!(role_for(&p, &admin), Ok(Role::Administrator));
        let keycloak = json!({"realm_access": {"roles": ["pm"]}});
        assert_eq!(role_for(&p, &keycloak), Ok(Role::ProjectManager));
        assert_eq!(
            role_for(&p, &json!({"hd": "example.com"})),
            Ok(Role::SupportEngineer)
        );
        assert_eq!(
            role_for(&p, &json!({"groups": ["staff"]})),
            Err(Refusal::NoRole)
        );
        let with_default = provider(&[], Some(Role::SupportEngineer));
        assert_eq!(
            role_for(&with_default, &json!({})),
            Ok(Role::SupportEngineer)
        );
    }

    #[test]
    fn entra_groups_overage_is_refused_rather_than_guessed() {
        let p = provider(
            &[("groups", "admins", Role::Administrator)],
            Some(Role::SupportEngineer),
        );
        let mut overage =
            json!({"_claim_names": {"groups": "src1"}, "_claim_sources": {"src1": {}}});
        assert!(groups_overage(&p, &overage));
        assert_eq!(role_for(&p, &overage), Err(Refusal::GroupsOverage));
        // Once the groups are read from Graph, the rules decide as usual.
        set_groups(&mut overage, vec!["staff".into(), "admins".into()]);
        assert!(!groups_overage(&p, &overage));
        assert_eq!(role_for(&p, &overage), Ok(Role::Administrator));
        // Without a rule on groups the marker does not matter.
        let roles_only = provider(&[("roles", "Admin", Role::Administrator)], None);
        let marker = json!({"_claim_names": {"groups": "src1"}, "roles": ["Admin"]});
        assert!(!groups_overage(&roles_only, &marker));
        assert_eq!(role_for(&roles_only, &marker), Ok(Role::Administrator));
    }

    #[test]
    fn domains_need_a_verified_address_and_tenants_match_tid_or_hd() {
        let mut p = provider(&[], None);
        p.allowed_email_domains = vec!["example.com".into()];
        let ok = json!({"email": "Ann@Example.com", "email_verified": true});
        assert_eq!(admit(&p, &ok), Ok(Some(("ann@example.com".into(), true))));
        let unverified = json!({"email": "ann@example.com", "email_verified": false});
        assert!(matches!(admit(&p, &unverified), Err(Refusal::Email(_))));
        let other = json!({"email": "ann@other.org", "email_verified": true});
        assert!(matches!(admit(&p, &other), Err(Refusal::Email(_))));
        p.allowed_email_domains.clear();
        p.allowed_tenants = vec!["tenant-1".into()];
        assert_eq!(admit(&p, &json!({"tid": "tenant-2"})), Err(Refusal::Tenant));
        assert_eq!(admit(&p, &json!({"tid": "tenant-1"})), Ok(None));
    }
}
