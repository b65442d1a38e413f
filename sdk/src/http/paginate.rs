//! Walking a paginated listing as one iterator of items.
//!
//! A connector's `read` returns one page to the host, so most streams map one service page to
//! one `read`. `paginate` is for everything that needs a whole listing inside one call:
//! `check`, `discover` (all projects), or expanding an item's sub-resources.

use std::collections::VecDeque;

use crate::error::Error;

/// One fetched page of a listing: its items and the cursor of the next page (`None` at the end).
#[derive(Debug, Clone, PartialEq)]
pub struct Batch<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// What to fetch next (a cursor, page number or URL), `None` when this was the last page.
    pub next: Option<String>,
}

/// Iterates over every item of a listing. `fetch` gets `None` for the first page, then each
/// [`Batch::next`]; the iteration ends after the last page, or after the first error (which it
/// yields). A listing that hands back the cursor it was given would loop forever: that ends the
/// iteration with [`Error::Internal`].
///
/// ```
/// use agentic_sdk::http::{paginate, Batch};
/// let pages = [vec![1, 2], vec![3]];
/// let all: Result<Vec<i32>, _> = paginate(|cursor| {
///     let page: usize = cursor.map_or(0, |c| c.parse().unwrap_or(0));
///     let next = (page + 1 < pages.len()).then(|| (page + 1).to_string());
///     Ok(Batch { items: pages[page].clone(), next })
/// })
/// .collect();
/// assert_eq!(all, Ok(vec![1, 2, 3]));
/// ```
pub fn paginate<T, F>(fetch: F) -> Paginate<T, F>
where
    F: FnMut(Option<&str>) -> Result<Batch<T>, Error>,
{
    Paginate {
        fetch,
        position: Position::Start,
        buffer: VecDeque::new(),
        pending: None,
    }
}

/// The iterator [`paginate`] returns.
pub struct Paginate<T, F> {
    fetch: F,
    position: Position,
    buffer: VecDeque<T>,
    /// An error to yield once the buffered items are out.
    pending: Option<Error>,
}

impl<T, F> std::fmt::Debug for Paginate<T, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Paginate")
            .field("position", &self.position)
            .field("buffered", &self.buffer.len())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Position {
    Start,
    After(String),
    Done,
}

impl<T, F> Iterator for Paginate<T, F>
where
    F: FnMut(Option<&str>) -> Result<Batch<T>, Error>,
{
    type Item = Result<T, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.buffer.pop_front() {
                return Some(Ok(item));
            }
            let cursor = match &self.position {
                Position::Done => return self.pending.take().map(Err),
                Position::Start => None,
                Position::After(cursor) => Some(cursor.clone()),
            };
            match (self.fetch)(cursor.as_deref()) {
                Err(e) => {
                    self.position = Position::Done;
                    return Some(Err(e));
                }
                Ok(batch) => {
                    self.buffer.extend(batch.items);
                    self.position = match batch.next {
                        None => Position::Done,
                        Some(next) if cursor.as_deref() == Some(next.as_str()) => {
                            self.pending = Some(Error::Internal(format!(
                                "pagination did not advance: the page after {next:?} points to itself"
                            )));
                            Position::Done
                        }
                        Some(next) => Position::After(next),
                    };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_is_fetched_once_with_the_previous_cursor() {
        let mut asked = Vec::new();
        let items: Vec<u32> = paginate(|cursor| {
            asked.push(cursor.map(str::to_owned));
            Ok(match cursor {
                None => Batch {
                    items: vec![1, 2],
                    next: Some("b".into()),
                },
                Some("b") => Batch {
                    items: vec![],
                    next: Some("c".into()),
                },
                _ => Batch {
                    items: vec![3],
                    next: None,
                },
            })
        })
        .collect::<Result<_, _>>()
        .expect("no error");
        assert_eq!(items, [1, 2, 3]);
        assert_eq!(asked, [None, Some("b".into()), Some("c".into())]);
    }

    #[test]
    fn an_error_ends_the_iteration_after_the_items_before_it() {
        let mut calls = 0;
        let results: Vec<Result<u32, Error>> = paginate(|cursor| {
            calls += 1;
            match cursor {
                None => Ok(Batch {
                    items: vec![1],
                    next: Some("2".into()),
                }),
                _ => Err(Error::Transient("reset".into())),
            }
        })
        .collect();
        assert_eq!(results, [Ok(1), Err(Error::Transient("reset".into()))]);
        assert_eq!(calls, 2);
    }

    #[test]
    fn a_cursor_pointing_to_itself_is_a_bug_not_a_loop() {
        let results: Vec<Result<u32, Error>> = paginate(|cursor| {
            Ok(Batch {
                items: vec![7],
                next: Some(cursor.unwrap_or("x").to_owned()),
            })
        })
        .collect();
        assert_eq!(results.len(), 3, "{results:?}");
        assert!(matches!(&results[2], Err(Error::Internal(m)) if m.contains("did not advance")));
    }
}
