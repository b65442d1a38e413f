//! The role of a person provisioned over SCIM, from the groups the provider put them in.
//!
//! The role rules are the single sign-on ones (`[[auth.oidc.providers.<name>.role_rules]]`,
//! evaluated by [`super::oidc::mapping::role_for`]): `[auth.scim] role_rules_from` names the
//! provider whose rules apply, so one rule set decides a person's role whether the role comes
//! from their ID token at sign-in or from the groups provisioned here. The person's SCIM groups
//! are offered to the rules as the claim `groups`, each group by its `displayName` and, when it
//! has one, its `externalId` (Entra ID puts group object ids in tokens and in `externalId`), so
//! a rule `claim = "groups", value = "<name or object id>"` matches either way.

use serde::{Deserialize, Serialize};

use super::oidc::config::OidcConfig;
use super::oidc::mapping::role_for;
use crate::rbac::Role;

/// SCIM provisioning settings (`[auth.scim]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScimConfig {
    /// The single sign-on provider (`auth.oidc.providers.<name>`) whose `role_rules` and
    /// `default_role` give provisioned people their role. Unset: every provisioned person gets
    /// [`ScimConfig::default_role`].
    pub role_rules_from: Option<String>,
    /// The role of a provisioned person no rule gives one (and the provider names no
    /// `default_role`). The least privileged role by default.
    pub default_role: Role,
}

impl Default for ScimConfig {
    fn default() -> Self {
        Self {
            role_rules_from: None,
            default_role: Role::SupportEngineer,
        }
    }
}

impl ScimConfig {
    /// `role_rules_from` must name a configured provider.
    pub fn validate(&self, oidc: &OidcConfig) -> Result<(), String> {
        match &self.role_rules_from {
            Some(name) if !oidc.providers.contains_key(name) => Err(format!(
                "auth.scim.role_rules_from names `{name}`, which is not a provider in auth.oidc.providers"
            )),
            _ => Ok(()),
        }
    }

    /// The role a person in `groups` (each group's name and external id) gets.
    pub fn role(&self, oidc: &OidcConfig, groups: &[(String, Option<String>)]) -> Role {
        let Some(provider) = self
            .role_rules_from
            .as_ref()
            .and_then(|name| oidc.providers.get(name))
        else {
            return self.default_role;
        };
        let names: Vec<&str> = groups
            .iter()
            .flat_map(|(name, external)| std::iter::once(name.as_str()).chain(external.as_deref()))
            .collect();
        let claims = serde_json::json!({ "groups": names });
        role_for(provider, &claims).unwrap_or(self.default_role)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_by_name_or_external_id_give_the_first_matching_rule_else_the_default() {
        let oidc: OidcConfig = toml::from_str(
            r#"
            frontend_url = "https://app.example.com/sso"
            [providers.entra]
            issuer = "https://login.microsoftonline.com/t/v2.0"
            client_id = "c"
            [[providers.entra.role_rules]]
            claim = "groups"
            value = "platform-admins"
            role = "administrator"
            [[providers.entra.role_rules]]
            claim = "groups"
            value = "0f6d-leads"
            role = "technical_lead"
        "#,
        )
        .expect("parses");
        let scim = ScimConfig {
            role_rules_from: Some("entra".into()),
            default_role: Role::SupportEngineer,
        };
        assert_eq!(scim.validate(&oidc), Ok(()));
        let g = |n: &str, e: Option<&str>| (n.to_owned(), e.map(str::to_owned));
        assert_eq!(
            scim.role(&oidc, &[g("Leads", Some("0f6d-leads"))]),
            Role::TechnicalLead
        );
        assert_eq!(
            scim.role(
                &oidc,
                &[g("Leads", Some("0f6d-leads")), g("platform-admins", None)]
            ),
            Role::Administrator
        );
        assert_eq!(scim.role(&oidc, &[g("Staff", None)]), Role::SupportEngineer);
        assert_eq!(scim.role(&oidc, &[]), Role::SupportEngineer);
        let unknown = ScimConfig {
            role_rules_from: Some("okta".into()),
            ..ScimConfig::default()
        };
        assert!(unknown.validate(&oidc).is_err());
    }
}
