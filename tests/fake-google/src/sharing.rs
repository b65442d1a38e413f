//! Who may do what with a file: Drive's permissions, and the rules that decide who sees them.
//!
//! A My Drive file has its owners (`File::owners`, role `owner`) and the grants in
//! `File::permissions`; a shared drive's members are the permissions of its root (the `File`
//! whose id is the drive's), and they are every file's in the drive. Drive shows a file's
//! `permissions` only to those who can share it (its owner and, by Drive's default, its
//! writers) and never for shared-drive items; `permissions.list` of a shared drive answers its
//! members to a member. [`Data::people`] is what a reader of files and calendars can find out
//! of that: the `people` stream's expected records.

use std::collections::BTreeMap;

use crate::data::{Data, File, User};

/// A role (Drive's `Permission.role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Owns a My Drive file.
    Owner,
    /// Manages a shared drive.
    Organizer,
    /// Content manager of a shared drive.
    FileOrganizer,
    /// Edits.
    Writer,
    /// Comments.
    Commenter,
    /// Reads.
    Reader,
}

impl Role {
    /// Drive's name of the role.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Organizer => "organizer",
            Role::FileOrganizer => "fileOrganizer",
            Role::Writer => "writer",
            Role::Commenter => "commenter",
            Role::Reader => "reader",
        }
    }

    /// Whether the role may change the file (and so, by Drive's default, share it).
    pub fn edits(self) -> bool {
        matches!(
            self,
            Role::Owner | Role::Organizer | Role::FileOrganizer | Role::Writer
        )
    }
}

/// Whom a permission is for (Drive's `Permission.type`).
#[derive(Debug, Clone, PartialEq)]
pub enum Grantee {
    /// A person's account.
    User(User),
    /// A Google Group: an address for many people, not a person.
    Group(User),
    /// Everyone in a domain.
    Domain(String),
    /// Anyone with the link.
    Anyone,
}

/// A permission on a file or a shared drive.
#[derive(Debug, Clone, PartialEq)]
pub struct Permission {
    /// Whom.
    pub grantee: Grantee,
    /// What they may do.
    pub role: Role,
}

impl Permission {
    /// A person's permission.
    pub fn user(name: &str, email: &str, role: Role) -> Self {
        Self {
            grantee: Grantee::User(account(name, email)),
            role,
        }
    }

    /// The person it is for, if it is for one.
    pub fn person(&self) -> Option<&User> {
        match &self.grantee {
            Grantee::User(u) => Some(u),
            _ => None,
        }
    }
}

fn account(name: &str, email: &str) -> User {
    User {
        name: name.into(),
        email: email.into(),
    }
}

/// Editors no file lets the identity see: they write only files it cannot share.
pub const HIDDEN_EDITOR: &str = "hidden@example.com";
/// A reader of every generated file: never one of the people.
pub const READER: &str = "reader@example.com";
/// A group that edits some files: never one of the people.
pub const GROUP: &str = "team@example.com";

impl Data {
    /// Grants on the generated file `i` (owned by `owner`): the identity writes every other
    /// file it does not own, and may then share it, and reads the others; visible editors (awkward names) on the
    /// files it can share, a hidden one on the others; a reader everywhere; a group, the
    /// domain and anyone with the link on some.
    pub(crate) fn share_generated(&mut self, i: usize, owner: usize) {
        let identity = self.users[0].clone();
        let shareable = owner == 0 || i.is_multiple_of(2);
        let mut grants = Vec::new();
        if owner != 0 {
            let role = if shareable {
                Role::Writer
            } else {
                Role::Reader
            };
            grants.push(Permission::user(&identity.name, &identity.email, role));
        }
        grants.push(match (shareable, i % 4 < 2) {
            (true, true) => Permission::user("Émile Éditeur", "editor0@example.com", Role::Writer),
            (true, false) => Permission::user("سارة المحررة", "editor1@example.com", Role::Writer),
            (false, _) => Permission::user("Nadia Verborgen", HIDDEN_EDITOR, Role::Writer),
        });
        grants.push(Permission::user("Rita Reader", READER, Role::Reader));
        if i.is_multiple_of(5) {
            grants.push(Permission {
                grantee: Grantee::Group(account("Team Ω", GROUP)),
                role: Role::Writer,
            });
        }
        if i.is_multiple_of(7) {
            grants.push(Permission {
                grantee: Grantee::Anyone,
                role: Role::Reader,
            });
            grants.push(Permission {
                grantee: Grantee::Domain("example.com".into()),
                role: Role::Commenter,
            });
        }
        if let Some(f) = self.files.last_mut() {
            f.permissions = grants;
        }
    }

    /// The generated shared drive's members: seven, so that they take pages; the identity
    /// manages it.
    pub(crate) fn generated_members(&self) -> Vec<Permission> {
        let identity = &self.users[0];
        let other = &self.users[2];
        vec![
            Permission::user(&identity.name, &identity.email, Role::Organizer),
            Permission::user("Søren Skriver", "writer@example.com", Role::Writer),
            Permission::user("فاطمة", "content@example.com", Role::FileOrganizer),
            Permission::user("Carla Commenter", "commenter@example.com", Role::Commenter),
            Permission {
                grantee: Grantee::Group(account("Drive team", "drive-team@example.com")),
                role: Role::Writer,
            },
            Permission::user(&other.name, &other.email, Role::Writer),
            Permission::user("Ngozi Okafor 👩🏾‍💼", "organizer@example.com", Role::Organizer),
        ]
    }

    /// Every permission on `file`: a My Drive file's owners (as `owner`) and grants; a shared
    /// drive file's, the drive's members.
    pub fn permissions(&self, file: &File) -> Vec<Permission> {
        if let Some(drive) = &file.drive_id {
            return self
                .file(drive)
                .map(|root| root.permissions.clone())
                .unwrap_or_default();
        }
        let owners = file.owners.iter().map(|o| {
            let u = &self.users[*o];
            Permission::user(&u.name, &u.email, Role::Owner)
        });
        owners.chain(file.permissions.iter().cloned()).collect()
    }

    /// The identity's role on `file`, the best of its permissions.
    pub fn identity_role(&self, file: &File) -> Option<Role> {
        let me = &self.users[0].email;
        let mut roles: Vec<Role> = self
            .permissions(file)
            .into_iter()
            .filter(|p| p.person().is_some_and(|u| &u.email == me))
            .map(|p| p.role)
            .collect();
        roles.sort_by_key(|r| !r.edits());
        roles.first().copied()
    }

    /// Whether Drive shows `file`'s `permissions` to the identity: a My Drive file it can
    /// share (owns or edits).
    pub fn shows_permissions(&self, file: &File) -> bool {
        file.drive_id.is_none() && self.identity_role(file).is_some_and(Role::edits)
    }

    /// What the `people` stream must find (e-mail → name): the owners of the files `in_scope`,
    /// the persons who edit those of them whose permissions Drive shows the identity, the
    /// persons who edit the shared drives those of them in a shared drive live in (when the
    /// identity is a member), and the organizers and attendees of every calendar.
    pub fn people(&self, in_scope: impl Fn(&File) -> bool) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let mut add = |u: &User| {
            out.entry(u.email.clone()).or_insert_with(|| u.name.clone());
        };
        for f in self.files.iter().filter(|f| in_scope(f)) {
            let visible = self.shows_permissions(f)
                || (f.drive_id.is_some() && self.identity_role(f).is_some());
            for p in self.permissions(f) {
                if p.role == Role::Owner || (visible && p.role.edits()) {
                    if let Some(u) = p.person() {
                        add(u);
                    }
                }
            }
        }
        for calendar in self.calendars.values() {
            for e in &calendar.events {
                for u in std::iter::once(&e.organizer).chain(&e.attendees) {
                    add(&self.users[*u]);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::{Discovery, Google, Request};

    fn get(google: &Google, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
        let answer = google.handle(&Request {
            method: "GET".into(),
            path: path.into(),
            query: query
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
            ..Request::default()
        });
        let body = serde_json::from_slice(&answer.body).expect("JSON");
        (answer.status, body)
    }

    #[test]
    fn drive_shows_permissions_to_whom_can_share_and_lists_a_drives_members_to_members() {
        let google = Google::new(Data::generate(3));
        let discovery = Discovery::google();
        // 1F00000: the identity's own; 1F00001: user1's, the identity only reads it;
        // 1F00002: user2's, the identity writes it; 1Team1: in a shared drive.
        for (id, shown) in [
            ("1F00000", true),
            ("1F00001", false),
            ("1F00002", true),
            ("1Team1", false),
        ] {
            let (status, file) = get(
                &google,
                &format!("/drive/v3/files/{id}"),
                &[("supportsAllDrives", "true")],
            );
            assert_eq!(status, 200);
            discovery
                .check_response("drive.files.get", &file)
                .expect("a File");
            assert_eq!(file.get("permissions").is_some(), shown, "{id}: {file}");
        }
        let (_, file) = get(&google, "/drive/v3/files/1F00002", &[]);
        let roles: Vec<(&str, &str)> = file["permissions"]
            .as_array()
            .expect("permissions")
            .iter()
            .map(|p| {
                (
                    p["emailAddress"].as_str().unwrap_or(""),
                    p["role"].as_str().unwrap_or(""),
                )
            })
            .collect();
        assert_eq!(
            roles,
            [
                ("user2@example.com", "owner"),
                ("user0@example.com", "writer"),
                ("editor1@example.com", "writer"),
                ("reader@example.com", "reader"),
            ]
        );

        let drive = format!("/drive/v3/files/{}/permissions", Data::SHARED_DRIVE);
        let (status, page) = get(
            &google,
            &drive,
            &[("supportsAllDrives", "true"), ("pageSize", "5")],
        );
        assert_eq!(status, 200);
        discovery
            .check_response("drive.permissions.list", &page)
            .expect("a PermissionList");
        assert_eq!(page["permissions"].as_array().map(Vec::len), Some(5));
        let (_, rest) = get(
            &google,
            &drive,
            &[("supportsAllDrives", "true"), ("pageToken", "pm~5")],
        );
        assert_eq!(rest["permissions"].as_array().map(Vec::len), Some(2));
        assert!(rest.get("nextPageToken").is_none());
        // Shared drives need supportsAllDrives; a file the identity cannot share is refused.
        assert_eq!(get(&google, &drive, &[]).0, 404);
        let (status, refused) = get(&google, "/drive/v3/files/1F00001/permissions", &[]);
        assert_eq!(status, 403);
        assert_eq!(
            refused["error"]["errors"][0]["reason"],
            "insufficientFilePermissions"
        );
        assert_eq!(google.violations(), Vec::<String>::new());
    }
}
