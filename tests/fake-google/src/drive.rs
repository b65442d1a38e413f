//! Drive v3 answers: `about.get`, `files.list` (with a subset of the query language),
//! `files.get` (metadata or `alt=media`), `files.export`, `changes.getStartPageToken`,
//! `changes.list`, `comments.list`, `permissions.list`.

use serde_json::{json, Value};

use crate::data::{Data, File, FOLDER};
use crate::discovery::Call;
use crate::json::{file as file_json, permission, rfc3339, user};
use crate::{Discovery, Refusal, Request, Response, MAX_PAGE_SIZE};

/// What `files.export` can produce per Google MIME type (Google's export formats).
fn exports(mime: &str) -> &'static [&'static str] {
    match mime {
        crate::data::DOC => &[
            "text/markdown",
            "text/plain",
            "text/html",
            "application/pdf",
        ],
        crate::data::SHEET => &["text/csv", "application/pdf"],
        crate::data::SLIDES => &["text/plain", "application/pdf"],
        _ => &[],
    }
}

/// Google's limit on exported content.
pub const EXPORT_LIMIT: usize = 10 * 1024 * 1024;

pub fn answer(
    data: &mut Data,
    call: &Call,
    request: &Request,
    discovery: &Discovery,
) -> Result<Response, Refusal> {
    let q = |name: &str| call.query.get(name).map(String::as_str);
    let flag = |name: &str| q(name) == Some("true");
    match call.id.as_str() {
        "drive.about.get" => {
            if q("fields").is_none() {
                return Err(Refusal::violation(
                    400,
                    "required",
                    "The 'fields' parameter is required for this method.",
                ));
            }
            Ok(Response::json(
                200,
                &json!({"kind": "drive#about", "user": user(&data.users[0])}),
            ))
        }
        "drive.files.list" => list_files(data, call),
        "drive.files.get" | "drive.files.export" => {
            let id = &call.path["fileId"];
            // `files.export` has no `supportsAllDrives`: it serves shared drive files anyway.
            let all_drives = call.id == "drive.files.export" || flag("supportsAllDrives");
            let f = visible(data, id, all_drives)?;
            if call.id == "drive.files.export" {
                let mime = q("mimeType").unwrap_or_default();
                if !exports(&f.mime_type).contains(&mime) {
                    return Err(Refusal::violation(400, "badRequest", &format!("Export only supports Docs Editors files; {} cannot be exported as {mime}.", f.mime_type)));
                }
                if f.content.len() > EXPORT_LIMIT {
                    return Err(Refusal::answer(
                        403,
                        "exportSizeLimitExceeded",
                        "This file is too large to be exported.",
                    ));
                }
                return Ok(Response::bytes(mime, f.content.clone()));
            }
            if q("alt") == Some("media") {
                if f.is_workspace() {
                    return Err(Refusal::violation(403, "fileNotDownloadable", "Only files with binary content can be downloaded. Use Export with Docs Editors files."));
                }
                return Ok(Response::bytes(
                    "application/octet-stream",
                    f.content.clone(),
                ));
            }
            Ok(Response::json(200, &file_json(data, f)))
        }
        "drive.changes.getStartPageToken" => {
            if q("driveId").is_some() && !flag("supportsAllDrives") {
                return Err(Refusal::violation(
                    403,
                    "teamDrivesParameterNotSupported",
                    "driveId requires supportsAllDrives=true.",
                ));
            }
            Ok(Response::json(
                200,
                &json!({"kind": "drive#startPageToken", "startPageToken": (data.changes.len() + 1).to_string()}),
            ))
        }
        "drive.changes.list" => list_changes(data, call),
        "drive.comments.list" => list_comments(data, call),
        "drive.permissions.list" => list_permissions(data, call),
        "drive.files.create" => create(data, call, request, discovery),
        other => Err(Refusal::violation(
            501,
            "notImplemented",
            &format!("the fake does not serve {other}"),
        )),
    }
}

/// The file `id` if the caller may see it: shared-drive files need `supportsAllDrives=true`.
fn visible<'a>(data: &'a Data, id: &str, all_drives: bool) -> Result<&'a File, Refusal> {
    match data.file(id) {
        Some(f) if f.drive_id.is_none() || all_drives => Ok(f),
        _ => Err(Refusal::answer(
            404,
            "notFound",
            &format!("File not found: {id}."),
        )),
    }
}

/// One term of the query language the fake understands.
enum Term {
    InParents(String),
    Trashed(bool),
    MimeType(String, bool),
}

/// Parses `'id' in parents and trashed = false and mimeType != '…'` (terms joined by `and`;
/// strings in single quotes with `\'` and `\\` escapes).
fn parse_q(q: &str) -> Result<Vec<Term>, String> {
    let mut terms = Vec::new();
    let mut rest = q.trim();
    while !rest.is_empty() {
        let (term, after) = if let Some(r) = rest.strip_prefix('\'') {
            let (text, r) = quoted(r)?;
            let r = r.trim_start();
            let r = r
                .strip_prefix("in parents")
                .ok_or_else(|| format!("unsupported term in {q:?}"))?;
            (Term::InParents(text), r)
        } else if let Some(r) = rest.strip_prefix("trashed") {
            let r = r
                .trim_start()
                .strip_prefix('=')
                .ok_or("trashed takes =")?
                .trim_start();
            if let Some(r) = r.strip_prefix("false") {
                (Term::Trashed(false), r)
            } else if let Some(r) = r.strip_prefix("true") {
                (Term::Trashed(true), r)
            } else {
                return Err("trashed = true|false".into());
            }
        } else if let Some(r) = rest.strip_prefix("mimeType") {
            let r = r.trim_start();
            let (equal, r) = if let Some(r) = r.strip_prefix("!=") {
                (false, r)
            } else if let Some(r) = r.strip_prefix('=') {
                (true, r)
            } else {
                return Err("mimeType takes = or !=".into());
            };
            let r = r
                .trim_start()
                .strip_prefix('\'')
                .ok_or("a quoted MIME type")?;
            let (text, r) = quoted(r)?;
            (Term::MimeType(text, equal), r)
        } else {
            return Err(format!(
                "Invalid Value: the fake does not understand {rest:?}"
            ));
        };
        terms.push(term);
        let after = after.trim_start();
        rest = match after.strip_prefix("and ") {
            Some(r) => r.trim_start(),
            None if after.is_empty() => "",
            None => return Err(format!("Invalid Value near {after:?}")),
        };
    }
    Ok(terms)
}

/// The text of a quoted string whose opening quote is gone, and what follows it.
fn quoted(s: &str) -> Result<(String, &str), String> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => out.push(chars.next().ok_or("dangling \\")?.1),
            '\'' => return Ok((out, &s[i + 1..])),
            c => out.push(c),
        }
    }
    Err("unterminated string".into())
}

fn page_size(call: &Call, default: usize, max: usize) -> usize {
    call.query
        .get("pageSize")
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(default)
        .clamp(1, max)
}

fn offset(call: &Call, prefix: &str) -> Result<usize, Refusal> {
    match call.query.get("pageToken") {
        None => Ok(0),
        Some(t) => t
            .strip_prefix(prefix)
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| {
                Refusal::violation(400, "invalid", &format!("Invalid Value: pageToken {t:?}"))
            }),
    }
}

fn list_files(data: &Data, call: &Call) -> Result<Response, Refusal> {
    let q = |name: &str| call.query.get(name).map(String::as_str);
    let flag = |name: &str| q(name) == Some("true");
    let corpora = q("corpora").unwrap_or("user");
    if !matches!(corpora, "user" | "drive" | "allDrives" | "domain") {
        return Err(Refusal::violation(
            400,
            "invalid",
            &format!("Invalid Value: corpora {corpora:?}"),
        ));
    }
    if (corpora == "drive") != q("driveId").is_some() {
        return Err(Refusal::violation(
            400,
            "invalid",
            "corpora=drive and driveId go together",
        ));
    }
    if matches!(corpora, "drive" | "allDrives")
        && !(flag("includeItemsFromAllDrives") && flag("supportsAllDrives"))
    {
        return Err(Refusal::violation(403, "teamDrivesParameterNotSupported", "includeItemsFromAllDrives and supportsAllDrives must be true to list shared drive items"));
    }
    let terms =
        parse_q(q("q").unwrap_or_default()).map_err(|e| Refusal::violation(400, "invalid", &e))?;
    let matches = |f: &File| {
        let in_corpus = match corpora {
            "drive" => f.drive_id.as_deref() == q("driveId"),
            "allDrives" => true,
            _ => f.drive_id.is_none() || flag("includeItemsFromAllDrives"),
        };
        // Roots (My Drive, shared drives) are not items of any listing.
        in_corpus
            && !f.parents.is_empty()
            && terms.iter().all(|t| match t {
                Term::InParents(p) => f.parents.contains(p),
                Term::Trashed(t) => f.trashed == *t,
                Term::MimeType(m, equal) => (f.mime_type == *m) == *equal,
            })
    };
    let all: Vec<&File> = data.files.iter().filter(|f| matches(f)).collect();
    let size = page_size(call, 100, MAX_PAGE_SIZE);
    let from = offset(call, "fl~")?;
    let page: Vec<Value> = all
        .iter()
        .skip(from)
        .take(size)
        .map(|f| file_json(data, f))
        .collect();
    let mut body = json!({"kind": "drive#fileList", "incompleteSearch": false, "files": page});
    if from + size < all.len() {
        body["nextPageToken"] = json!(format!("fl~{}", from + size));
    }
    Ok(Response::json(200, &body))
}

/// `files.create` as a multipart upload (`uploadType=multipart`, `multipart/related`: the
/// metadata as JSON, then the media). A Google Docs MIME type with Markdown media is converted,
/// as Drive imports Markdown; the Doc's export is then that Markdown.
fn create(
    data: &mut Data,
    call: &Call,
    request: &Request,
    discovery: &Discovery,
) -> Result<Response, Refusal> {
    if call.query.get("uploadType").map(String::as_str) != Some("multipart") {
        return Err(Refusal::violation(
            400,
            "badContent",
            "the fake takes files.create as uploadType=multipart only",
        ));
    }
    let boundary = request
        .content_type
        .as_deref()
        .filter(|c| c.starts_with("multipart/related"))
        .and_then(|c| {
            c.split(';')
                .find_map(|p| p.trim().strip_prefix("boundary="))
        })
        .map(|b| b.trim_matches('"').to_owned())
        .ok_or_else(|| {
            Refusal::violation(
                400,
                "badContent",
                "Content-Type must be multipart/related with a boundary",
            )
        })?;
    let parts = multipart(&request.body, &boundary)
        .ok_or_else(|| Refusal::violation(400, "badContent", "malformed multipart body"))?;
    let [(meta_type, meta), (media_type, media)] = parts.as_slice() else {
        return Err(Refusal::violation(
            400,
            "badContent",
            "a multipart upload has two parts: metadata, media",
        ));
    };
    if !meta_type.starts_with("application/json") {
        return Err(Refusal::violation(
            400,
            "badContent",
            "the first part is the metadata, as JSON",
        ));
    }
    let metadata: Value = serde_json::from_slice(meta)
        .map_err(|_| Refusal::violation(400, "parseError", "Parse Error"))?;
    discovery
        .check_body("drive.files.create", &metadata)
        .map_err(|v| Refusal::violation(400, "invalid", &v.message))?;
    let mime = metadata["mimeType"]
        .as_str()
        .unwrap_or(media_type)
        .to_owned();
    if mime == crate::data::DOC
        && !matches!(
            media_type.as_str(),
            "text/markdown" | "text/plain" | "text/html"
        )
    {
        return Err(Refusal::violation(
            400,
            "badContent",
            &format!("cannot convert {media_type} to a Google Doc"),
        ));
    }
    let parent = metadata["parents"][0]
        .as_str()
        .unwrap_or(Data::ROOT)
        .to_owned();
    match data.file(&parent) {
        Some(p) if p.mime_type == FOLDER => {}
        _ => {
            return Err(Refusal::answer(
                404,
                "notFound",
                &format!("File not found: {parent}."),
            ))
        }
    }
    let id = format!("1Created{}", data.files.len());
    data.create(
        &id,
        metadata["name"].as_str().unwrap_or("Untitled"),
        &mime,
        &parent,
        media,
    );
    let f = data
        .file(&id)
        .ok_or_else(|| Refusal::answer(500, "backendError", "lost"))?;
    Ok(Response::json(200, &file_json(data, f)))
}

/// The parts of a `multipart/related` body: (content type, content).
fn multipart(body: &[u8], boundary: &str) -> Option<Vec<(String, Vec<u8>)>> {
    let text = String::from_utf8(body.to_vec()).ok()?;
    let delimiter = format!("--{boundary}");
    let mut parts = Vec::new();
    for chunk in text.split(&delimiter).skip(1) {
        if chunk.starts_with("--") {
            return Some(parts);
        }
        let chunk = chunk.strip_prefix("\r\n")?;
        let (head, content) = chunk.split_once("\r\n\r\n")?;
        let content_type = head
            .lines()
            .find_map(|l| {
                l.split_once(':')
                    .filter(|(n, _)| n.eq_ignore_ascii_case("content-type"))
                    .map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_default();
        parts.push((
            content_type,
            content.strip_suffix("\r\n")?.as_bytes().to_vec(),
        ));
    }
    None
}

fn list_changes(data: &Data, call: &Call) -> Result<Response, Refusal> {
    let q = |name: &str| call.query.get(name).map(String::as_str);
    let flag = |name: &str| q(name) == Some("true");
    let token: usize = q("pageToken")
        .and_then(|t| t.parse().ok())
        .filter(|t| (1..=data.changes.len() + 1).contains(t))
        .ok_or_else(|| Refusal::violation(400, "invalid", "Invalid Value: pageToken"))?;
    let drive = q("driveId");
    if drive.is_some() && !flag("supportsAllDrives") {
        return Err(Refusal::violation(
            403,
            "teamDrivesParameterNotSupported",
            "driveId requires supportsAllDrives=true",
        ));
    }
    let size = page_size(call, 100, MAX_PAGE_SIZE);
    let mut changes = Vec::new();
    let mut index = token - 1;
    let wants_removed = q("includeRemoved") != Some("false");
    while index < data.changes.len() && changes.len() < size {
        let id = &data.changes[index];
        index += 1;
        let change = match data.file(id) {
            Some(f) => {
                let in_corpus = match drive {
                    Some(d) => f.drive_id.as_deref() == Some(d),
                    None => f.drive_id.is_none() || flag("includeItemsFromAllDrives"),
                };
                if !in_corpus {
                    continue;
                }
                json!({"kind": "drive#change", "changeType": "file", "fileId": id, "removed": false,
                       "time": rfc3339(f.modified), "file": file_json(data, f)})
            }
            None if wants_removed => {
                json!({"kind": "drive#change", "changeType": "file", "fileId": id, "removed": true,
                       "time": rfc3339(data.now)})
            }
            None => continue,
        };
        changes.push(change);
    }
    let mut body = json!({"kind": "drive#changeList", "changes": changes});
    if index < data.changes.len() {
        body["nextPageToken"] = json!((index + 1).to_string());
    } else {
        body["newStartPageToken"] = json!((data.changes.len() + 1).to_string());
    }
    Ok(Response::json(200, &body))
}

fn list_comments(data: &Data, call: &Call) -> Result<Response, Refusal> {
    if !call.query.contains_key("fields") {
        return Err(Refusal::violation(
            400,
            "required",
            "The 'fields' parameter is required for this method.",
        ));
    }
    let id = &call.path["fileId"];
    let f = data
        .file(id)
        .filter(|f| f.mime_type != FOLDER)
        .ok_or_else(|| Refusal::answer(404, "notFound", &format!("File not found: {id}.")))?;
    let include_deleted = call.query.get("includeDeleted").map(String::as_str) == Some("true");
    let all: Vec<Value> = f
        .comments
        .iter()
        .filter(|c| include_deleted || !c.deleted)
        .map(|c| {
            let replies: Vec<Value> = c.replies.iter().map(|r| json!({
                "kind": "drive#reply", "id": r.id, "author": user(&data.users[r.author]),
                "content": r.content, "htmlContent": r.content, "deleted": false,
                "createdTime": rfc3339(r.created), "modifiedTime": rfc3339(r.modified)})).collect();
            let mut v = json!({"kind": "drive#comment", "id": c.id, "author": user(&data.users[c.author]),
                "createdTime": rfc3339(c.created), "modifiedTime": rfc3339(c.modified),
                "resolved": c.resolved, "deleted": c.deleted, "replies": replies});
            if !c.deleted {
                v["content"] = json!(c.content);
                v["htmlContent"] = json!(c.content);
            }
            v
        })
        .collect();
    let size = page_size(call, 20, 100);
    let from = offset(call, "cm~")?;
    let page: Vec<Value> = all.iter().skip(from).take(size).cloned().collect();
    let mut body = json!({"kind": "drive#commentList", "comments": page});
    if from + size < all.len() {
        body["nextPageToken"] = json!(format!("cm~{}", from + size));
    }
    Ok(Response::json(200, &body))
}

/// `permissions.list` of a file or a shared drive (by its id): a My Drive file's to whom can
/// share it, a shared drive's (or its files') members to a member; else Google's 403.
fn list_permissions(data: &Data, call: &Call) -> Result<Response, Refusal> {
    let id = &call.path["fileId"];
    let all_drives = call.query.get("supportsAllDrives").map(String::as_str) == Some("true");
    let f = visible(data, id, all_drives)?;
    let may = match f.drive_id {
        Some(_) => data.identity_role(f).is_some(),
        None => data.shows_permissions(f),
    };
    if !may {
        return Err(Refusal::answer(
            403,
            "insufficientFilePermissions",
            "The user does not have sufficient permissions for this file.",
        ));
    }
    let all: Vec<Value> = data.permissions(f).iter().map(permission).collect();
    let size = page_size(call, 100, 100);
    let from = offset(call, "pm~")?;
    let page: Vec<Value> = all.iter().skip(from).take(size).cloned().collect();
    let mut body = json!({"kind": "drive#permissionList", "permissions": page});
    if from + size < all.len() {
        body["nextPageToken"] = json!(format!("pm~{}", from + size));
    }
    Ok(Response::json(200, &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_parse_with_escapes() {
        let terms = parse_q(r"'it\'s' in parents and trashed = false and mimeType != 'application/vnd.google-apps.folder'")
            .expect("parses");
        assert!(matches!(&terms[0], Term::InParents(p) if p == "it's"));
        assert!(matches!(terms[1], Term::Trashed(false)));
        assert!(matches!(&terms[2], Term::MimeType(m, false) if m == FOLDER));
        assert!(parse_q("name contains 'x'").is_err());
        assert!(parse_q("trashed = false or starred = true").is_err());
    }
}
