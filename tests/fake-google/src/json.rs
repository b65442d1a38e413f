//! The fake's data as Google's JSON resources, and RFC 3339 times.

use serde_json::{json, Value};

use crate::data::{Data, File, User, When};
use crate::sharing::{Grantee, Permission};

/// `2026-01-01T00:01:00.000Z`, as Drive writes times.
pub fn rfc3339(ms: i64) -> String {
    rfc3339_offset(ms, 0)
}

/// The time `ms` written in the offset `minutes` east of UTC (`…T09:00:00-05:00`), as
/// Calendar writes event times in their time zone.
pub fn rfc3339_offset(ms: i64, minutes: i32) -> String {
    let local = ms + i64::from(minutes) * 60_000;
    let (days, rest) = (local.div_euclid(86_400_000), local.rem_euclid(86_400_000));
    let (y, m, d) = civil(days);
    let (h, min, s, milli) = (
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1000 % 60,
        rest % 1000,
    );
    let zone = if minutes == 0 {
        "Z".to_owned()
    } else {
        let sign = if minutes < 0 { '-' } else { '+' };
        format!("{sign}{:02}:{:02}", minutes.abs() / 60, minutes.abs() % 60)
    };
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{milli:03}{zone}")
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)` into (ms since the epoch, offset minutes).
pub fn parse_rfc3339(t: &str) -> Option<(i64, i32)> {
    let b = t.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let n = |r: std::ops::Range<usize>| t.get(r)?.parse::<i64>().ok();
    let (y, mo, d, h, mi, s) = (
        n(0..4)?,
        n(5..7)?,
        n(8..10)?,
        n(11..13)?,
        n(14..16)?,
        n(17..19)?,
    );
    let mut i = 19;
    let mut ms = 0;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        ms = format!("{:0<3}", &t[start..i])[..3].parse().ok()?;
    }
    let offset: i32 = match &t[i..] {
        "Z" => 0,
        z if z.len() == 6 => {
            let m = i32::try_from(n(i + 1..i + 3)? * 60 + n(i + 4..i + 6)?).ok()?;
            if z.starts_with('-') {
                -m
            } else {
                m
            }
        }
        _ => return None,
    };
    let (yy, mm) = if mo <= 2 {
        (y - 1, mo + 9)
    } else {
        (y, mo - 3)
    };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + (153 * mm + 2) / 5 + d - 1;
    let days = era * 146_097 + doe - 719_468;
    let utc = (days * 86_400 + h * 3600 + mi * 60 + s - i64::from(offset) * 60) * 1000 + ms;
    Some((utc, offset))
}

/// Days since 1970-01-01 as (year, month, day) (Howard Hinnant's civil_from_days).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// A `User` resource.
pub fn user(u: &User) -> Value {
    json!({"kind": "drive#user", "displayName": u.name, "emailAddress": u.email, "me": false,
           "permissionId": format!("perm-{}", u.email)})
}

/// A `File` resource with every field the fake knows (`fields` trims it).
pub fn file(data: &Data, f: &File) -> Value {
    let mut v = json!({
        "kind": "drive#file", "id": f.id, "name": f.name, "mimeType": f.mime_type,
        "parents": f.parents, "createdTime": rfc3339(f.created), "modifiedTime": rfc3339(f.modified),
        "version": f.version.to_string(), "trashed": f.trashed, "webViewLink": f.web_view_link(),
        "starred": false, "spaces": ["drive"],
    });
    if !f.is_workspace() {
        v["size"] = json!(f.content.len().to_string());
        v["md5Checksum"] = json!(format!("{:032x}", f.content.len()));
    }
    match &f.drive_id {
        Some(drive) => v["driveId"] = json!(drive),
        None => {
            v["owners"] = f.owners.iter().map(|o| user(&data.users[*o])).collect();
            // Only to those who can share the file; never for shared-drive items.
            if data.shows_permissions(f) {
                v["permissions"] = data.permissions(f).iter().map(permission).collect();
            }
        }
    }
    v
}

/// A `Permission` resource.
pub fn permission(p: &Permission) -> Value {
    let mut v = json!({"kind": "drive#permission", "role": p.role.as_str(), "deleted": false});
    match &p.grantee {
        Grantee::User(u) | Grantee::Group(u) => {
            let kind = if matches!(p.grantee, Grantee::User(_)) {
                "user"
            } else {
                "group"
            };
            v["type"] = json!(kind);
            v["id"] = json!(format!("perm-{}", u.email));
            v["emailAddress"] = json!(u.email);
            v["displayName"] = json!(u.name);
        }
        Grantee::Domain(domain) => {
            v["type"] = json!("domain");
            v["id"] = json!(format!("perm-{domain}"));
            v["domain"] = json!(domain);
            v["displayName"] = json!(domain);
        }
        Grantee::Anyone => {
            v["type"] = json!("anyone");
            v["id"] = json!("anyoneWithLink");
        }
    }
    v
}

/// An event time: `{dateTime, timeZone}` or `{date}`.
pub fn when(w: &When) -> Value {
    match w {
        When::At { ms, offset_minutes } => {
            json!({"dateTime": rfc3339_offset(*ms, *offset_minutes).replace(".000", "")})
        }
        When::Day(day) => json!({"date": day}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_as_google_writes_them() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_767_225_660_123), "2026-01-01T00:01:00.123Z");
        assert_eq!(
            rfc3339_offset(1_767_225_600_000, -300),
            "2025-12-31T19:00:00.000-05:00"
        );
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(
            parse_rfc3339("2025-12-31T19:00:00-05:00"),
            Some((1_767_225_600_000, -300))
        );
        assert_eq!(
            parse_rfc3339("2026-01-01T00:01:00.123Z"),
            Some((1_767_225_660_123, 0))
        );
    }
}
