//! Tables on the terminal: a header line, then columns aligned with two spaces (numbers to the
//! right), so `plugin list`, `action list` and the sync summary read like `docker ps`. Scripts
//! should use the REST API, whose shapes are documented; these are for people.

use std::fmt;

/// Rows under a header.
#[derive(Debug)]
pub(super) struct Table {
    rows: Vec<Vec<String>>,
    right: Vec<bool>,
}

impl Table {
    /// A table with these column headers.
    pub(super) fn new(headers: &[&str]) -> Self {
        Self {
            rows: vec![headers.iter().map(|h| (*h).to_owned()).collect()],
            right: vec![false; headers.len()],
        }
    }

    /// Aligns these columns (0-based) to the right: numbers and durations.
    pub(super) fn right(mut self, columns: &[usize]) -> Self {
        for c in columns {
            if let Some(r) = self.right.get_mut(*c) {
                *r = true;
            }
        }
        self
    }

    /// Adds a row; missing cells are empty, extra ones are dropped.
    pub(super) fn row<S: ToString>(&mut self, cells: impl IntoIterator<Item = S>) {
        let mut row: Vec<String> = cells.into_iter().map(|c| c.to_string()).collect();
        row.resize(self.right.len(), String::new());
        self.rows.push(row);
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let widths: Vec<usize> = (0..self.right.len())
            .map(|c| {
                self.rows
                    .iter()
                    .map(|r| r[c].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for row in &self.rows {
            let mut line = String::new();
            for (c, cell) in row.iter().enumerate() {
                if c > 0 {
                    line.push_str("  ");
                }
                let pad = " ".repeat(widths[c] - cell.chars().count());
                if self.right[c] {
                    line.push_str(&pad);
                    line.push_str(cell);
                } else {
                    line.push_str(cell);
                    line.push_str(&pad);
                }
            }
            writeln!(f, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_under_their_headers() {
        let mut table = Table::new(&["ID", "RECORDS", "NOTE"]).right(&[1]);
        table.row(["jira", "1200", "ok"]);
        table.row(["example", "7", ""]);
        assert_eq!(
            table.to_string(),
            "ID       RECORDS  NOTE\n\
             jira        1200  ok\n\
             example        7\n"
        );
    }
}
