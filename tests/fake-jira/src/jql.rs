//! The JQL the fake understands: what the connector sends (`project in (…)`, `updated >= "…"`,
//! its own `ORDER BY updated ASC, key ASC`) and a little more for configured filters
//! (`labels = x`, `issuetype = Bug`, `status = "To Do"`, `AND`, `OR`, brackets). Anything else is
//! an error, as JIRA answers 400 to JQL it cannot parse; the connector writes its JQL itself, so
//! such an error is also a violation.

use crate::data::{Issue, PROJECTS, STATUSES, TYPES};

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Every one matches.
    All(Vec<Filter>),
    /// One matches.
    Any(Vec<Filter>),
    /// `project in (…)`, `project = …`.
    ProjectIn(Vec<String>),
    /// `updated >= "…"`, in Unix ms.
    UpdatedFrom(i64),
    /// `labels`, `issuetype` or `status` `= value`.
    Field(String, String),
}

impl Filter {
    /// Whether `issue` matches.
    pub fn matches(&self, issue: &Issue) -> bool {
        match self {
            Filter::All(all) => all.iter().all(|f| f.matches(issue)),
            Filter::Any(any) => any.iter().any(|f| f.matches(issue)),
            Filter::ProjectIn(keys) => keys.iter().any(|k| k == PROJECTS[issue.project]),
            Filter::UpdatedFrom(ms) => issue.updated >= *ms,
            Filter::Field(field, value) => match field.as_str() {
                "labels" => issue.labels.iter().any(|l| l == value),
                "issuetype" => TYPES[issue.issue_type].eq_ignore_ascii_case(value),
                "status" => STATUSES[issue.status].0.eq_ignore_ascii_case(value),
                _ => false,
            },
        }
    }

    /// The lower bound on `updated` the filter imposes everywhere, for a quick start.
    pub fn updated_from(&self) -> Option<i64> {
        match self {
            Filter::UpdatedFrom(ms) => Some(*ms),
            Filter::All(all) => all.iter().filter_map(Filter::updated_from).max(),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Open,
    Close,
    Comma,
    Op(String),
}

fn tokens(jql: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = jql.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            ' ' | '\t' | '\n' => {
                chars.next();
            }
            '(' => {
                chars.next();
                out.push(Token::Open);
            }
            ')' => {
                chars.next();
                out.push(Token::Close);
            }
            ',' => {
                chars.next();
                out.push(Token::Comma);
            }
            '=' | '>' | '<' | '!' | '~' => {
                let mut op = String::new();
                while let Some(&c) = chars.peek().filter(|c| "=><!~".contains(**c)) {
                    op.push(c);
                    chars.next();
                }
                out.push(Token::Op(op));
            }
            '"' | '\'' => {
                let quote = c;
                chars.next();
                let mut text = String::new();
                loop {
                    match chars.next() {
                        Some('\\') => text.push(chars.next().ok_or("dangling escape")?),
                        Some(c) if c == quote => break,
                        Some(c) => text.push(c),
                        None => return Err("unterminated string".into()),
                    }
                }
                out.push(Token::Text(text));
            }
            _ => {
                let mut word = String::new();
                while let Some(&c) = chars.peek().filter(|c| !" \t\n(),=><!~\"'".contains(**c)) {
                    word.push(c);
                    chars.next();
                }
                out.push(Token::Word(word));
            }
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    tz: i32,
}

impl Parser {
    fn peek_word(&self, word: &str) -> bool {
        matches!(self.tokens.get(self.at), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn value(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Token::Word(w) | Token::Text(w)) => Ok(w),
            other => Err(format!("expected a value, found {other:?}")),
        }
    }

    fn expr(&mut self) -> Result<Filter, String> {
        let mut any = vec![self.term()?];
        while self.peek_word("OR") {
            self.at += 1;
            any.push(self.term()?);
        }
        Ok(if any.len() == 1 {
            any.remove(0)
        } else {
            Filter::Any(any)
        })
    }

    fn term(&mut self) -> Result<Filter, String> {
        let mut all = vec![self.factor()?];
        while self.peek_word("AND") {
            self.at += 1;
            all.push(self.factor()?);
        }
        Ok(if all.len() == 1 {
            all.remove(0)
        } else {
            Filter::All(all)
        })
    }

    fn factor(&mut self) -> Result<Filter, String> {
        match self.next() {
            Some(Token::Open) => {
                let inner = self.expr()?;
                match self.next() {
                    Some(Token::Close) => Ok(inner),
                    other => Err(format!("expected ), found {other:?}")),
                }
            }
            Some(Token::Word(field)) => {
                let field = field.to_ascii_lowercase();
                let op = self.next();
                match (field.as_str(), op) {
                    ("project", Some(Token::Word(w))) if w.eq_ignore_ascii_case("in") => {
                        if self.next() != Some(Token::Open) {
                            return Err("expected ( after project in".into());
                        }
                        let mut keys = vec![self.value()?];
                        loop {
                            match self.next() {
                                Some(Token::Comma) => keys.push(self.value()?),
                                Some(Token::Close) => break,
                                other => return Err(format!("expected , or ), found {other:?}")),
                            }
                        }
                        Ok(Filter::ProjectIn(keys))
                    }
                    ("project", Some(Token::Op(op))) if op == "=" => {
                        Ok(Filter::ProjectIn(vec![self.value()?]))
                    }
                    ("updated", Some(Token::Op(op))) if op == ">=" => {
                        let date = self.value()?;
                        Ok(Filter::UpdatedFrom(jql_date(&date, self.tz)?))
                    }
                    ("labels" | "issuetype" | "status", Some(Token::Op(op))) if op == "=" => {
                        Ok(Filter::Field(field, self.value()?))
                    }
                    (field, op) => Err(format!("the fake does not know `{field} {op:?}`")),
                }
            }
            other => Err(format!("unexpected {other:?}")),
        }
    }
}

/// `yyyy-MM-dd HH:mm` (or `yyyy/MM/dd HH:mm`, or a date alone) as a wall-clock time at `tz`.
fn jql_date(text: &str, tz: i32) -> Result<i64, String> {
    let invalid = || format!("Date value '{text}' for field 'updated' is invalid");
    let normal = text.replace('/', "-");
    let (date, time) = normal.split_once(' ').unwrap_or((normal.as_str(), "00:00"));
    let number = |s: Option<&str>| s.and_then(|s| s.parse::<i64>().ok()).ok_or_else(invalid);
    let mut ymd = date.split('-');
    let (y, mo, d) = (
        number(ymd.next())?,
        number(ymd.next())?,
        number(ymd.next())?,
    );
    let mut hm = time.split(':');
    let (h, mi) = (number(hm.next())?, number(hm.next())?);
    let days = agentic_sdk::time::days_from_civil(y, mo, d).ok_or_else(invalid)?;
    if ymd.next().is_some() || hm.next().is_some() || h > 23 || mi > 59 {
        return Err(invalid());
    }
    Ok((days * 1440 + h * 60 + mi - i64::from(tz)) * 60_000)
}

/// Parses a search's JQL: the filter (`None` for none, which Jira Cloud refuses), checking the
/// ordering is the connector's; the error is JIRA's message.
pub fn parse(jql: &str, tz: i32, cloud: bool) -> Result<Option<Filter>, String> {
    let lower = jql.to_ascii_lowercase();
    let (filter, order) = match lower.rfind("order by") {
        Some(at) => (&jql[..at], &jql[at + "order by".len()..]),
        None => (jql, ""),
    };
    let order: Vec<String> = order
        .split(',')
        .map(|o| {
            o.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_ascii_lowercase()
        })
        .collect();
    if order != ["updated asc", "key asc"] {
        return Err(format!(
            "Error in the JQL Query: the fake sorts by updated ASC, key ASC only, not {order:?}"
        ));
    }
    let mut parser = Parser {
        tokens: tokens(filter).map_err(|e| format!("Error in the JQL Query: {e}"))?,
        at: 0,
        tz,
    };
    if parser.tokens.is_empty() {
        if cloud {
            return Err("Unbounded JQL queries are not allowed here. Please add a search restriction to your query.".into());
        }
        return Ok(None);
    }
    let filter = parser
        .expr()
        .map_err(|e| format!("Error in the JQL Query: {e}"))?;
    if parser.at != parser.tokens.len() {
        let rest = parser.tokens.get(parser.at);
        return Err(format!("Error in the JQL Query: unexpected {rest:?}"));
    }
    Ok(Some(filter))
}
