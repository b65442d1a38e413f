//! The answers of the Sheets v4 and Docs v1 methods the connector uses, from the files' data:
//! `sheets.spreadsheets.get` (the sheets' properties), `sheets.spreadsheets.values.batchGet`
//! (whole sheets by title, rows of formatted values), `sheets.spreadsheets.values.append` (rows
//! after a sheet's last row, by `INSERT_ROWS` or `OVERWRITE` alike) and `docs.documents.get` (a
//! Google Doc's structure built from its Markdown: headings, bullets, bold runs, paragraphs).
//! These APIs live on origins of their own (`sheets.googleapis.com`, `docs.googleapis.com`); the
//! tests serve them on one of their own too.

use serde_json::{json, Value};

use crate::data::{Data, File, DOC, SHEET};
use crate::discovery::Call;
use crate::{Refusal, Request, Response};

/// Answers `call` (a `sheets.` or `docs.` method).
pub fn answer(data: &mut Data, call: &Call, request: &Request) -> Result<Response, Refusal> {
    match call.id.as_str() {
        "sheets.spreadsheets.get" => {
            let f = workspace_file(data, call, "spreadsheetId", SHEET)?;
            let sheets: Vec<Value> = f
                .sheets
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    json!({"properties": {"sheetId": i * 1000, "title": s.title, "index": i,
                        "sheetType": "GRID", "gridProperties": {"rowCount": s.rows.len().max(1000),
                        "columnCount": 26}}})
                })
                .collect();
            Ok(Response::json(
                200,
                &json!({"spreadsheetId": f.id, "properties": {"title": f.name, "locale": "de_DE"},
                    "sheets": sheets, "spreadsheetUrl": f.web_view_link()}),
            ))
        }
        "sheets.spreadsheets.values.batchGet" => {
            let f = workspace_file(data, call, "spreadsheetId", SHEET)?;
            // Repeated `ranges` reach the call joined by commas; sheet titles may hold commas,
            // so take them from the request itself.
            let ranges: Vec<&str> = request
                .query
                .iter()
                .filter(|(n, _)| n == "ranges")
                .map(|(_, v)| v.as_str())
                .collect();
            let mut out = Vec::new();
            for range in ranges {
                let title = sheet_title(range);
                let Some(sheet) = f.sheets.iter().find(|s| s.title == title) else {
                    return Err(Refusal::answer(
                        400,
                        "badRequest",
                        &format!("Unable to parse range: {range}"),
                    ));
                };
                let width = sheet.rows.iter().map(Vec::len).max().unwrap_or(0);
                let mut value = json!({"range": format!("'{}'!A1:{}{}", sheet.title.replace('\'', "''"),
                    column(width), sheet.rows.len()), "majorDimension": "ROWS"});
                // Google leaves trailing empty cells and rows out, and `values` when all are.
                let rows: Vec<Vec<&String>> = sheet
                    .rows
                    .iter()
                    .map(|r| {
                        let end = r.iter().rposition(|c| !c.is_empty()).map_or(0, |i| i + 1);
                        r[..end].iter().collect()
                    })
                    .collect();
                let end = rows
                    .iter()
                    .rposition(|r| !r.is_empty())
                    .map_or(0, |i| i + 1);
                if end > 0 {
                    value["values"] = json!(rows[..end]);
                }
                out.push(value);
            }
            Ok(Response::json(
                200,
                &json!({"spreadsheetId": f.id, "valueRanges": out}),
            ))
        }
        "sheets.spreadsheets.values.append" => append(data, call, request),
        "docs.documents.get" => {
            let f = workspace_file(data, call, "documentId", DOC)?;
            Ok(Response::json(200, &document(f)))
        }
        other => Err(Refusal::violation(
            501,
            "notImplemented",
            &format!("the fake does not serve {other}"),
        )),
    }
}

/// The Google Sheet or Doc (`mime`) named by path parameter `param`; another kind of file is
/// Google's 400 for Sheets ("This operation is not supported for this document"), 404 else.
fn workspace_file<'a>(
    data: &'a Data,
    call: &Call,
    param: &str,
    mime: &str,
) -> Result<&'a File, Refusal> {
    let id = call.path.get(param).map(String::as_str).unwrap_or_default();
    match data.file(id) {
        Some(f) if f.mime_type == mime && !f.trashed => Ok(f),
        Some(_) if mime == SHEET => Err(Refusal::answer(
            400,
            "failedPrecondition",
            "This operation is not supported for this document",
        )),
        _ => Err(Refusal::answer(
            404,
            "notFound",
            &format!("Requested entity was not found: {id}."),
        )),
    }
}

/// The sheet title of an A1 range: `'It''s'!A1:B2` → `It's`, `Sheet1!A:C` → `Sheet1`, `Sheet1`.
fn sheet_title(range: &str) -> String {
    if let Some(rest) = range.strip_prefix('\'') {
        let mut title = String::new();
        let mut chars = rest.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\'' if chars.peek() == Some(&'\'') => {
                    chars.next();
                    title.push('\'');
                }
                '\'' => break,
                c => title.push(c),
            }
        }
        return title;
    }
    range.split('!').next().unwrap_or_default().to_owned()
}

/// The letters of column `n` (1-based): 1 → `A`, 27 → `AA`.
fn column(mut n: usize) -> String {
    let mut out = Vec::new();
    while n > 0 {
        n -= 1;
        out.push(b'A' + (n % 26) as u8);
        n /= 26;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// `values.append`: the body's rows after the sheet's last row.
fn append(data: &mut Data, call: &Call, request: &Request) -> Result<Response, Refusal> {
    let id = call.path.get("spreadsheetId").cloned().unwrap_or_default();
    let range = call.path.get("range").cloned().unwrap_or_default();
    let option = call.query.get("valueInputOption").cloned();
    if !matches!(option.as_deref(), Some("RAW" | "USER_ENTERED")) {
        return Err(Refusal::violation(
            400,
            "badRequest",
            "Invalid valueInputOption: INPUT_VALUE_OPTION_UNSPECIFIED",
        ));
    }
    let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    let rows: Vec<Vec<String>> = body["values"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|r| {
                    r.as_array()
                        .map(|cells| {
                            cells
                                .iter()
                                .map(|c| match c {
                                    Value::String(s) => s.clone(),
                                    Value::Null => String::new(),
                                    other => other.to_string(),
                                })
                                .collect()
                        })
                        .unwrap_or_default()
                })
                .collect()
        })
        .unwrap_or_default();
    if let Some(given) = body["range"].as_str() {
        if sheet_title(given) != sheet_title(&range) {
            return Err(Refusal::violation(
                400,
                "badRequest",
                &format!(
                    "Requested writing within range [{range}], but tried writing to [{given}]"
                ),
            ));
        }
    }
    let title = sheet_title(&range);
    let at = data.tick();
    let Some(file) = data
        .files
        .iter_mut()
        .find(|f| f.id == id && f.mime_type == SHEET && !f.trashed)
    else {
        return Err(Refusal::answer(
            404,
            "notFound",
            &format!("Requested entity was not found: {id}."),
        ));
    };
    let Some(index) = file.sheets.iter().position(|s| s.title == title) else {
        return Err(Refusal::answer(
            400,
            "badRequest",
            &format!("Unable to parse range: {range}"),
        ));
    };
    let sheet = &mut file.sheets[index];
    let first = sheet.rows.len() + 1;
    let width = rows.iter().map(Vec::len).max().unwrap_or(0);
    let cells: usize = rows.iter().map(Vec::len).sum();
    let added = rows.len();
    sheet.rows.extend(rows);
    let quoted = format!("'{}'", sheet.title.replace('\'', "''"));
    let updated = format!(
        "{quoted}!A{first}:{}{}",
        column(width.max(1)),
        first + added.max(1) - 1
    );
    if index == 0 {
        file.content = file.sheets[0].csv().into_bytes();
    }
    file.modified = at;
    file.version += 1;
    data.changes.push(id.clone());
    Ok(Response::json(
        200,
        &json!({"spreadsheetId": id, "tableRange": format!("{quoted}!A1"),
            "updates": {"spreadsheetId": id, "updatedRange": updated, "updatedRows": added,
                "updatedColumns": width, "updatedCells": cells}}),
    ))
}

/// A Google Doc's `documents.get` answer, built from its Markdown (`# ` headings up to six
/// levels, `- ` bullets, `**bold**` runs, other lines as paragraphs).
fn document(f: &File) -> Value {
    let text = String::from_utf8_lossy(&f.content);
    let mut index = 1;
    let mut content = vec![json!({"endIndex": 1, "sectionBreak": {"sectionStyle": {}}})];
    let mut lists = serde_json::Map::new();
    for line in text.lines() {
        let hashes = line.chars().take_while(|c| *c == '#').count();
        let (style, rest, bullet) = if (1..=6).contains(&hashes) && line[hashes..].starts_with(' ')
        {
            (format!("HEADING_{hashes}"), &line[hashes + 1..], false)
        } else if let Some(item) = line.strip_prefix("- ") {
            ("NORMAL_TEXT".to_owned(), item, true)
        } else {
            ("NORMAL_TEXT".to_owned(), line, false)
        };
        let mut elements = Vec::new();
        for (i, part) in rest.split("**").enumerate() {
            if part.is_empty() {
                continue;
            }
            let style = if i % 2 == 1 {
                json!({"bold": true})
            } else {
                json!({})
            };
            let end = index + part.chars().count();
            elements.push(json!({"startIndex": index, "endIndex": end,
                "textRun": {"content": part, "textStyle": style}}));
            index = end;
        }
        elements.push(json!({"startIndex": index, "endIndex": index + 1,
            "textRun": {"content": "\n", "textStyle": {}}}));
        index += 1;
        let mut paragraph = json!({"elements": elements,
            "paragraphStyle": {"namedStyleType": style, "direction": "LEFT_TO_RIGHT"}});
        if bullet {
            paragraph["bullet"] = json!({"listId": "kix.list1", "nestingLevel": 0});
            lists.insert(
                "kix.list1".into(),
                json!({"listProperties": {"nestingLevels": [
                {"glyphType": "GLYPH_TYPE_UNSPECIFIED", "glyphSymbol": "●"}]}}),
            );
        }
        content.push(json!({"endIndex": index, "paragraph": paragraph}));
    }
    json!({"documentId": f.id, "title": f.name, "revisionId": format!("rev{}", f.version),
        "body": {"content": content}, "lists": lists})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_documents_answer_fits_the_docs_discovery_document() {
        let data = Data::generate(1);
        let doc = data.file("1F00000").expect("a Doc");
        crate::Discovery::google()
            .check_response("docs.documents.get", &document(doc))
            .expect("a Document as docs.v1.json describes it");
    }
}
