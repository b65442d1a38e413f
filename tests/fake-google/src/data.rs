//! What the fake Google holds: users, Drive files (with their content and comments), the
//! changes feed, calendars and their events; and a generator of a realistic, awkward data set.

use std::collections::BTreeMap;

use crate::sharing::Permission;

/// A Google account.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// Display name.
    pub name: String,
    /// E-mail address.
    pub email: String,
}

/// MIME type of Drive folders.
pub const FOLDER: &str = "application/vnd.google-apps.folder";
/// MIME type of Google Docs.
pub const DOC: &str = "application/vnd.google-apps.document";
/// MIME type of Google Sheets.
pub const SHEET: &str = "application/vnd.google-apps.spreadsheet";
/// MIME type of Google Slides.
pub const SLIDES: &str = "application/vnd.google-apps.presentation";

/// The sheets of every generated spreadsheet: a small table (its CSV export is Drive's
/// `text/csv` of the file) and a second sheet only the Sheets API serves.
pub fn sheets() -> Vec<Sheet> {
    vec![
        Sheet::new(
            "Sheet1",
            &[&["Name", "Value"], &["alpha", "1"], &["with, comma", "2"]],
        ),
        Sheet::new(
            "Zahlen | ✓",
            &[&["Jahr", "Umsatz"], &["2025", "1.234,50 €"], &["2026", ""]],
        ),
    ]
}

/// The sheets of a spreadsheet created with `csv` as its export: the generated ones for theirs,
/// else one sheet of its lines split at commas (tests write plain CSV).
fn sheets_of(csv: &[u8]) -> Vec<Sheet> {
    let generated = sheets();
    if csv == generated[0].csv().as_bytes() {
        return generated;
    }
    let text = String::from_utf8_lossy(csv);
    vec![Sheet {
        title: "Sheet1".into(),
        rows: text
            .lines()
            .map(|l| l.split(',').map(str::to_owned).collect())
            .collect(),
    }]
}

/// A Drive file or folder.
#[derive(Debug, Clone, PartialEq)]
pub struct File {
    /// Drive's id.
    pub id: String,
    /// Name (any Unicode).
    pub name: String,
    /// MIME type.
    pub mime_type: String,
    /// Parent folder ids (a shared drive's root is the drive's id).
    pub parents: Vec<String>,
    /// The shared drive it lives in; `None` for My Drive.
    pub drive_id: Option<String>,
    /// Owners, by index into `Data::users` (none in shared drives).
    pub owners: Vec<usize>,
    /// Created, in ms since the epoch.
    pub created: i64,
    /// Last modified, in ms since the epoch.
    pub modified: i64,
    /// Drive's version counter.
    pub version: i64,
    /// Content: the bytes of a binary or text file; a Google Doc's Markdown export; a Sheet's
    /// CSV export; a presentation's plain text.
    pub content: Vec<u8>,
    /// In the trash.
    pub trashed: bool,
    /// Comments, with their replies.
    pub comments: Vec<Comment>,
    /// Grants besides the owners' ([`crate::sharing`]); a shared drive's root: its members.
    pub permissions: Vec<Permission>,
    /// A Google Sheet's sheets, as the Sheets API serves them (its CSV export, `content`, is
    /// the first); empty for other files.
    pub sheets: Vec<Sheet>,
}

/// One sheet (tab) of a spreadsheet.
#[derive(Debug, Clone, PartialEq)]
pub struct Sheet {
    /// Its title, as the tab shows it.
    pub title: String,
    /// Its cells by row, as formatted values.
    pub rows: Vec<Vec<String>>,
}

impl Sheet {
    /// A sheet of `rows`.
    pub fn new(title: &str, rows: &[&[&str]]) -> Self {
        Self {
            title: title.into(),
            rows: rows
                .iter()
                .map(|r| r.iter().map(|c| (*c).to_owned()).collect())
                .collect(),
        }
    }

    /// The sheet as Drive's CSV export writes it.
    pub fn csv(&self) -> String {
        let field = |c: &String| {
            if c.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", c.replace('"', "\"\""))
            } else {
                c.clone()
            }
        };
        self.rows
            .iter()
            .map(|r| r.iter().map(field).collect::<Vec<_>>().join(",") + "\n")
            .collect()
    }
}

impl File {
    /// Whether it is a Google Workspace file (exported, not downloaded).
    pub fn is_workspace(&self) -> bool {
        self.mime_type.starts_with("application/vnd.google-apps.")
    }

    /// The link Drive gives people.
    pub fn web_view_link(&self) -> String {
        match self.mime_type.as_str() {
            DOC => format!("https://docs.google.com/document/d/{}/edit", self.id),
            SHEET => format!("https://docs.google.com/spreadsheets/d/{}/edit", self.id),
            FOLDER => format!("https://drive.google.com/drive/folders/{}", self.id),
            _ => format!("https://drive.google.com/file/d/{}/view", self.id),
        }
    }
}

/// A comment on a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Comment {
    /// Drive's id.
    pub id: String,
    /// Author, by index into `Data::users`.
    pub author: usize,
    /// Plain text.
    pub content: String,
    /// Created.
    pub created: i64,
    /// Modified.
    pub modified: i64,
    /// Resolved.
    pub resolved: bool,
    /// Deleted (Drive keeps the comment without its content).
    pub deleted: bool,
    /// Replies.
    pub replies: Vec<Reply>,
}

/// A reply to a comment.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// Drive's id.
    pub id: String,
    /// Author.
    pub author: usize,
    /// Plain text.
    pub content: String,
    /// Created.
    pub created: i64,
    /// Modified.
    pub modified: i64,
}

/// When an event happens.
#[derive(Debug, Clone, PartialEq)]
pub enum When {
    /// A time, with the time zone it is shown in (`dateTime` with an offset).
    At {
        /// ms since the epoch.
        ms: i64,
        /// The offset it is written with, in minutes east of UTC.
        offset_minutes: i32,
    },
    /// An all-day date (`date`), `YYYY-MM-DD`.
    Day(String),
}

/// A calendar event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Calendar's id.
    pub id: String,
    /// Title.
    pub summary: String,
    /// Description.
    pub description: String,
    /// Start.
    pub start: When,
    /// End.
    pub end: When,
    /// `confirmed`, `tentative` or `cancelled`.
    pub status: String,
    /// Organizer.
    pub organizer: usize,
    /// Attendees.
    pub attendees: Vec<usize>,
    /// Last change.
    pub updated: i64,
    /// `RRULE:FREQ=DAILY;COUNT=n` or `FREQ=WEEKLY`: expanded by `singleEvents=true`.
    pub recurrence: Option<String>,
    /// The change counter when it last changed (for sync tokens).
    pub seq: u64,
}

/// A calendar.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Calendar {
    /// Events, cancelled ones included.
    pub events: Vec<Event>,
    /// Bumped to invalidate every sync token issued before (the next use is `410 Gone`).
    pub epoch: u64,
}

/// Everything the fake serves.
#[derive(Debug, Clone, Default)]
pub struct Data {
    /// Accounts; the first is the identity the credential belongs to.
    pub users: Vec<User>,
    /// Files and folders, in creation order.
    pub files: Vec<File>,
    /// The changes feed: the id of the file each change is about, oldest first.
    pub changes: Vec<String>,
    /// Calendars by id.
    pub calendars: BTreeMap<String, Calendar>,
    /// A change counter for calendars.
    pub seq: u64,
    /// The fake's clock, ms since the epoch; every edit moves it on by a minute.
    pub now: i64,
}

/// Names with every Unicode class the connector must carry unchanged: combining marks, right
/// to left scripts, CJK, astral-plane letters and emoji sequences, zero-width characters,
/// quotes and backslashes (which Drive's query language escapes), a slash (which is not a
/// path separator in Drive).
pub const AWKWARD_NAMES: [&str; 10] = [
    "Re\u{301}sume\u{301} – naïve café",
    "Отчёт 2026 (финал)",
    "تقرير المشروع",
    "פרויקט אלפא",
    "設計書・仕様 第2版",
    "회의록 🗓️ 👩‍💻",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 math \u{200b}zero\u{200d}width",
    "It's \"quoted\" \\ back",
    "a/b is not a path",
    "देवनागरी नाम",
];

impl Data {
    /// The id of My Drive's root folder.
    pub const ROOT: &'static str = "0AMyDriveRoot";
    /// The synced folder's id.
    pub const FOLDER: &'static str = "1FolderProjekt";
    /// The shared drive's id.
    pub const SHARED_DRIVE: &'static str = "0ASharedDrive1";

    /// A data set: a folder (`FOLDER`) with two levels of subfolders holding `files` files of
    /// every kind and awkward names, files outside it (in My Drive's root and in a shared
    /// drive with seven members), comments with replies, grants to editors, readers, a group
    /// and the domain ([`crate::sharing`]), and a calendar with timed, all-day and recurring
    /// events.
    pub fn generate(files: usize) -> Self {
        let mut d = Data {
            now: 1_767_225_600_000, // 2026-01-01T00:00:00Z
            ..Data::default()
        };
        d.users = (0..4)
            .map(|i| User {
                name: ["Ada Lovelace", "Zoë Ñúñez", "李小龍", "Ørjan Ødegård"][i].into(),
                email: format!("user{i}@example.com"),
            })
            .collect();
        d.push_file(Self::ROOT, "My Drive", FOLDER, &[], None, b"");
        d.push_file(Self::FOLDER, "Projekt Ω", FOLDER, &[Self::ROOT], None, b"");
        d.push_file("1Specs", "Specs", FOLDER, &[Self::FOLDER], None, b"");
        d.push_file("1Deep", "Deep – tief", FOLDER, &["1Specs"], None, b"");
        let homes = [Self::FOLDER, "1Specs", "1Deep"];
        for i in 0..files {
            let id = format!("1F{i:05}");
            let name = format!("{} #{i}", AWKWARD_NAMES[i % AWKWARD_NAMES.len()]);
            let parent = homes[i % homes.len()];
            let (mime, content): (&str, Vec<u8>) = match i % 6 {
                0 => (
                    DOC,
                    format!("# {name}\n\nParagraph with **bold** text.\n").into_bytes(),
                ),
                1 => (
                    "text/plain",
                    format!("plain text of {name}\nline 2\n").into_bytes(),
                ),
                2 => ("application/pdf", b"%PDF-1.7 binary \x00\x01\x02".to_vec()),
                3 => ("text/markdown", format!("- item of {name}\n").into_bytes()),
                4 => (SHEET, sheets()[0].csv().into_bytes()),
                _ => (SLIDES, format!("Slide 1\n{name}\n").into_bytes()),
            };
            d.push_file(&id, &name, mime, &[parent], None, &content);
            let author = i % 4;
            let owner = d.files.last().map_or(0, |f| f.owners[0]);
            d.share_generated(i, owner);
            if i % 3 == 0 {
                let created = d.tick();
                let comment = Comment {
                    id: format!("AAA{i}"),
                    author: (author + 1) % 4,
                    content: format!("Comment on {name}: please check"),
                    created,
                    modified: created,
                    resolved: false,
                    deleted: false,
                    replies: vec![Reply {
                        id: format!("AAA{i}r1"),
                        author: owner,
                        content: "Done ✔".into(),
                        created,
                        modified: created,
                    }],
                };
                if let Some(f) = d.files.last_mut() {
                    f.comments.push(comment);
                }
            }
        }
        // A text file over any sensible size cap, and files outside the synced folder.
        let big = "x".repeat(3 * 1024 * 1024);
        d.push_file(
            "1Big",
            "big.txt",
            "text/plain",
            &[Self::FOLDER],
            None,
            big.as_bytes(),
        );
        d.push_file(
            "1Outside",
            "outside.txt",
            "text/plain",
            &[Self::ROOT],
            None,
            b"outside",
        );
        d.push_file(
            Self::SHARED_DRIVE,
            "Team Drive",
            FOLDER,
            &[],
            Some(Self::SHARED_DRIVE),
            b"",
        );
        let members = d.generated_members();
        if let Some(root) = d.files.last_mut() {
            root.permissions = members;
        }
        d.push_file(
            "1Team1",
            "Team notes",
            DOC,
            &[Self::SHARED_DRIVE],
            Some(Self::SHARED_DRIVE),
            b"# Team\n",
        );
        d.push_file(
            "1TeamSub",
            "Sub",
            FOLDER,
            &[Self::SHARED_DRIVE],
            Some(Self::SHARED_DRIVE),
            b"",
        );
        d.push_file(
            "1Team2",
            "data.csv",
            "text/csv",
            &["1TeamSub"],
            Some(Self::SHARED_DRIVE),
            b"a,b\n1,2\n",
        );
        d.generate_calendar();
        d
    }

    fn generate_calendar(&mut self) {
        let mut calendar = Calendar::default();
        let day = 86_400_000;
        // 2026-01-11T00:00:00Z, whatever the clock says by now.
        let base = 1_767_225_600_000 + 10 * day;
        for (i, name) in AWKWARD_NAMES.iter().take(7).enumerate() {
            self.seq += 1;
            let (start, end, recurrence) = match i {
                // All-day, over two days (the end date is exclusive).
                2 => (
                    When::Day("2026-01-12".into()),
                    When::Day("2026-01-14".into()),
                    None,
                ),
                // Daily stand-up, three times, in New York (UTC-5 in January).
                4 => (
                    When::At {
                        ms: base + 14 * 3_600_000,
                        offset_minutes: -300,
                    },
                    When::At {
                        ms: base + 14 * 3_600_000 + 900_000,
                        offset_minutes: -300,
                    },
                    Some("RRULE:FREQ=DAILY;COUNT=3".to_owned()),
                ),
                _ => (
                    When::At {
                        ms: base + i as i64 * day,
                        offset_minutes: 60 * (i as i32 % 3),
                    },
                    When::At {
                        ms: base + i as i64 * day + 3_600_000,
                        offset_minutes: 60 * (i as i32 % 3),
                    },
                    None,
                ),
            };
            calendar.events.push(Event {
                id: format!("evt{i}abc"),
                summary: format!("{name} meeting"),
                description: if i == 1 {
                    "Agenda:\n1. Budget".into()
                } else {
                    String::new()
                },
                start,
                end,
                status: if i == 5 {
                    "tentative".into()
                } else {
                    "confirmed".into()
                },
                organizer: i % 4,
                attendees: vec![(i + 1) % 4, (i + 2) % 4],
                updated: self.now,
                recurrence,
                seq: self.seq,
            });
        }
        self.calendars.insert("primary".into(), calendar);
    }

    /// Moves the clock on by a minute and returns the new time.
    pub fn tick(&mut self) -> i64 {
        self.now += 60_000;
        self.now
    }

    fn push_file(
        &mut self,
        id: &str,
        name: &str,
        mime: &str,
        parents: &[&str],
        drive_id: Option<&str>,
        content: &[u8],
    ) {
        let at = self.tick();
        let owners = if drive_id.is_some() {
            Vec::new()
        } else {
            vec![self.files.len() % self.users.len().max(1)]
        };
        self.files.push(File {
            id: id.into(),
            name: name.into(),
            mime_type: mime.into(),
            parents: parents.iter().map(|p| (*p).to_owned()).collect(),
            drive_id: drive_id.map(str::to_owned),
            owners,
            created: at,
            modified: at,
            version: 1,
            content: content.to_vec(),
            trashed: false,
            comments: Vec::new(),
            permissions: Vec::new(),
            sheets: if mime == SHEET {
                sheets_of(content)
            } else {
                Vec::new()
            },
        });
        self.changes.push(id.into());
    }

    /// The file `id`.
    pub fn file(&self, id: &str) -> Option<&File> {
        self.files.iter().find(|f| f.id == id)
    }

    /// Creates a file (as a person would in Drive), logged in the changes feed.
    pub fn create(&mut self, id: &str, name: &str, mime: &str, parent: &str, content: &[u8]) {
        let drive = self.file(parent).and_then(|p| p.drive_id.clone());
        self.push_file(id, name, mime, &[parent], drive.as_deref(), content);
    }

    /// Edits file `id` (name, content, …), bumping its version and modified time, logged in
    /// the changes feed.
    pub fn edit(&mut self, id: &str, change: impl FnOnce(&mut File)) {
        let at = self.tick();
        let file = self
            .files
            .iter_mut()
            .find(|f| f.id == id)
            .expect("a file to edit");
        change(file);
        file.modified = at;
        file.version += 1;
        self.changes.push(id.into());
    }

    /// Deletes file `id` for good (the changes feed says `removed`).
    pub fn delete(&mut self, id: &str) {
        self.tick();
        self.files.retain(|f| f.id != id);
        self.changes.push(id.into());
    }

    /// Edits an event of `calendar` (or cancels it), for sync tokens to pick up.
    pub fn edit_event(&mut self, calendar: &str, id: &str, change: impl FnOnce(&mut Event)) {
        let at = self.tick();
        self.seq += 1;
        let seq = self.seq;
        let event = self
            .calendars
            .get_mut(calendar)
            .and_then(|c| c.events.iter_mut().find(|e| e.id == id))
            .expect("an event to edit");
        change(event);
        event.updated = at;
        event.seq = seq;
    }

    /// Adds an event to `calendar`.
    pub fn add_event(&mut self, calendar: &str, mut event: Event) {
        event.updated = self.tick();
        self.seq += 1;
        event.seq = self.seq;
        self.calendars
            .entry(calendar.into())
            .or_default()
            .events
            .push(event);
    }

    /// Makes every sync token of `calendar` issued so far invalid (Google's `410 Gone`).
    pub fn expire_sync_tokens(&mut self, calendar: &str) {
        if let Some(c) = self.calendars.get_mut(calendar) {
            c.epoch += 1;
        }
    }
}
