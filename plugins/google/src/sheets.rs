//! Google Sheets through the Sheets API, on the connection's service origin `sheets` (contract
//! 0.3.0): a Sheet's body is every sheet (tab), in order, each a `## title` and a Markdown table
//! of its formatted values (`spreadsheets.get` for the titles, one `values.batchGet` for all
//! their values), at most `max_sheet_cells` cells in all, whole rows, the note saying what was
//! cut. Also the URL of `values.append`, for the `append-rows` action.

use agentic_sdk::http::{encode, Request};
use agentic_sdk::serde_json::Value;
use agentic_sdk::Error;

use crate::api::{Google, Service};
use crate::content::Body;

/// The body of the Sheet `id`; `Ok(None)` when it is gone.
pub fn sheet(
    google: &Google,
    id: &str,
    max_bytes: u64,
    max_cells: u64,
) -> Result<Option<Body>, Error> {
    let what = format!("read the sheets of spreadsheet {id}");
    let spreadsheet = match google.get_json(
        Service::Sheets,
        &["spreadsheets", id],
        &[("fields", "sheets(properties(title))")],
        &what,
    ) {
        Ok(v) => v,
        Err(Error::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let titles: Vec<String> = spreadsheet["sheets"]
        .as_array()
        .map(|sheets| {
            sheets
                .iter()
                .filter_map(|s| s["properties"]["title"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if titles.is_empty() {
        return Ok(Some(Body::text("text/markdown", String::new(), None)));
    }
    let mut request = Request::get(format!(
        "{}/values:batchGet",
        google.url(Service::Sheets, &["spreadsheets", id])
    ))
    .query("majorDimension", "ROWS")
    .query("valueRenderOption", "FORMATTED_VALUE")
    .query("fields", "valueRanges(values)");
    for title in &titles {
        request = request.query("ranges", quoted(title));
    }
    let response = match google.send(
        Service::Sheets,
        request,
        &format!("read the values of spreadsheet {id}"),
    ) {
        Ok(r) => r,
        Err(Error::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let n = response.body.len() as u64;
    if n > max_bytes {
        return Ok(Some(Body::text(
            "text/markdown",
            String::new(),
            Some(format!(
                "content not kept: {n} bytes of values, over the connection's max_file_bytes of {max_bytes}"
            )),
        )));
    }
    let values: Value = response.json()?;
    let ranges = values["valueRanges"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let sheets: Vec<(String, Vec<Vec<String>>)> = titles
        .into_iter()
        .enumerate()
        .map(|(i, title)| {
            let rows = ranges
                .get(i)
                .and_then(|r| r["values"].as_array())
                .map(|rows| rows.iter().map(row).collect())
                .unwrap_or_default();
            (title, rows)
        })
        .collect();
    let (text, note) = sheets_to_markdown(&sheets, max_cells);
    Ok(Some(Body::text("text/markdown", text, note)))
}

/// A sheet title as an A1 range of the whole sheet: quoted, its quotes doubled.
pub fn quoted(title: &str) -> String {
    format!("'{}'", title.replace('\'', "''"))
}

/// The URL of `values.append` on `range` of spreadsheet `id`.
pub fn append_url(google: &Google, id: &str, range: &str) -> String {
    format!(
        "{}/values/{}:append",
        google.url(Service::SheetsWrite, &["spreadsheets", id]),
        encode(range)
    )
}

fn row(value: &Value) -> Vec<String> {
    value
        .as_array()
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
}

/// Every sheet as `## title` and its Markdown table (first row the header), at most
/// `max_cells` cells in all (whole rows; a sheet past the cap keeps its title); the note says
/// what was cut.
pub fn sheets_to_markdown(
    sheets: &[(String, Vec<Vec<String>>)],
    max_cells: u64,
) -> (String, Option<String>) {
    let mut parts = Vec::new();
    let mut notes = Vec::new();
    let mut left = max_cells;
    for (title, rows) in sheets {
        let heading = format!("## {}\n", title.replace(['\n', '\r'], " "));
        if left == 0 && !rows.is_empty() {
            parts.push(heading);
            notes.push(format!("sheet {title:?} left out"));
            continue;
        }
        let (table, used, cut) = table(rows, left);
        left = left.saturating_sub(used);
        if let Some(cut) = cut {
            notes.push(format!("sheet {title:?} {cut}"));
        }
        parts.push(if table.is_empty() {
            heading
        } else {
            format!("{heading}\n{table}")
        });
    }
    let note = (!notes.is_empty()).then(|| {
        format!(
            "{}: over the connection's max_sheet_cells of {max_cells}",
            notes.join("; ")
        )
    });
    (parts.join("\n"), note)
}

/// A Markdown table of `rows` within `cap` cells (at least its header), the cells it used, and
/// what was cut.
fn table(rows: &[Vec<String>], cap: u64) -> (String, u64, Option<String>) {
    let width = rows.iter().map(Vec::len).max().unwrap_or(0);
    if width == 0 {
        return (String::new(), 0, None);
    }
    let max_rows = usize::try_from((cap / width as u64).max(1)).unwrap_or(usize::MAX);
    let cell = |s: &str| {
        s.replace('\\', "\\\\")
            .replace('|', "\\|")
            .replace("\r\n", "<br>")
            .replace('\n', "<br>")
    };
    let line = |row: &[String]| {
        let mut out = String::from("|");
        for i in 0..width {
            out.push(' ');
            out.push_str(&cell(row.get(i).map_or("", String::as_str)));
            out.push_str(" |");
        }
        out
    };
    let kept = rows.len().min(max_rows);
    let mut out = vec![line(&rows[0]), format!("|{}", " --- |".repeat(width))];
    out.extend(rows.iter().take(kept).skip(1).map(|r| line(r)));
    let cut = (rows.len() > kept)
        .then(|| format!("cut to {kept} of {} rows ({width} columns)", rows.len()));
    (out.join("\n") + "\n", (kept * width) as u64, cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(rows: &[&[&str]]) -> Vec<Vec<String>> {
        rows.iter()
            .map(|r| r.iter().map(|c| (*c).to_owned()).collect())
            .collect()
    }

    #[test]
    fn every_sheet_becomes_a_titled_table_within_the_cell_cap() {
        let sheets = vec![
            (
                "Sheet1".to_owned(),
                rows(&[&["Name", "Value"], &["a|b", "1"]]),
            ),
            ("Zwei".to_owned(), rows(&[&["x"], &["1"], &["2"]])),
        ];
        let (text, note) = sheets_to_markdown(&sheets, 100);
        assert_eq!(
            text,
            "## Sheet1\n\n| Name | Value |\n| --- | --- |\n| a\\|b | 1 |\n\n## Zwei\n\n| x |\n| --- |\n| 1 |\n| 2 |\n"
        );
        assert_eq!(note, None);
        // 4 cells: the first sheet's 4, then nothing of the second.
        let (text, note) = sheets_to_markdown(&sheets, 4);
        assert!(text.ends_with("## Zwei\n"), "{text}");
        assert!(note.expect("a note").contains("sheet \"Zwei\" left out"));
        let (_, note) = sheets_to_markdown(&sheets, 5);
        assert!(note
            .expect("a note")
            .contains("sheet \"Zwei\" cut to 1 of 3 rows"));
    }
}
