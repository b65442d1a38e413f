//! Jira wiki markup (Data Center's rich text) ⇄ Markdown, through ADF: wiki markup is read into
//! ADF nodes and printed with [`crate::adf::to_markdown`]; Markdown is read with
//! [`crate::adf::from_markdown`] and the ADF printed as wiki markup. The common markup is
//! covered — headings, emphasis (`*bold*`, `_em_`, `-strike-`, `+under+`, `^sup^`, `~sub~`,
//! `??cite??`, `{{mono}}`, `{color}`), links and mentions (`[text|url]`, `[~user]`), lists,
//! tables, `bq.`, `{quote}`, `{code}`, `{noformat}`, `{panel}`, rules and line breaks; other
//! macros stay as their text.
//!
//! `parse` reads wiki markup into ADF, `print` writes ADF as wiki markup; this module joins
//! each to the ADF ⇄ Markdown conversion.

mod parse;
mod print;

use crate::adf::{self, Node};

pub use parse::{inline, parse};
use print::block_wiki;

/// Wiki markup as Markdown.
pub fn to_markdown(wiki: &str) -> String {
    let doc = Node::new("doc").with_content(parse(wiki));
    adf::to_markdown(&doc.to_value())
}

/// Markdown as wiki markup.
pub fn from_markdown(markdown: &str) -> String {
    let doc = Node::from_value(&adf::from_markdown(markdown));
    let mut out = Vec::new();
    for block in &doc.content {
        out.push(block_wiki(block));
    }
    out.retain(|b| !b.is_empty());
    out.join("\n\n")
}

#[cfg(test)]
mod tests {
    use super::print::inline_wiki;
    use super::*;

    #[test]
    fn wiki_markup_reads_as_markdown() {
        let wiki = "h2. Steps\n\nOpen *the* _page_ and -remove- +this+ {{code}}, E=mc^2^ H~2~O.\n\
                    Second line with [a link|https://x.y] and [~jsmith] and [https://a.b].\n\n\
                    * one\n** nested\n* two\n# first\n# second\n\n||Key||Value||\n|a|*b*|\n\n\
                    bq. quoted\n\n{code:java}\nint x = 1;\n{code}\n\n----\n\n{color:#ff0000}red{color} \\* not bold";
        let markdown = to_markdown(wiki);
        assert_eq!(
            markdown,
            "## Steps\n\n\
             Open **the** *page* and ~~remove~~ :underline[this] `code`, E=mc:subsup[2]{\"type\":\"sup\"} H:subsup[2]{\"type\":\"sub\"}O.\\\n\
             Second line with [a link](https://x.y) and :mention[@jsmith]{\"id\":\"jsmith\"} and <https://a.b>.\n\n\
             - one\n\n  - nested\n\n- two\n\n1. first\n2. second\n\n| Key | Value |\n| --- | --- |\n| a | **b** |\n\n\
             > quoted\n\n```java\nint x = 1;\n```\n\n---\n\n:textColor[red]{\"color\":\"#ff0000\"} \\* not bold"
        );
    }

    #[test]
    fn plain_words_with_dashes_and_stars_stay_text() {
        assert_eq!(
            to_markdown("read-only a*b 2-3 x_y_z"),
            "read-only a\\*b 2-3 x\\_y\\_z"
        );
        assert_eq!(
            to_markdown("{unknownmacro} [not a link]"),
            "\\{unknownmacro} \\[not a link\\]"
        );
    }

    #[test]
    fn wiki_escapes_only_what_could_be_markup() {
        assert_eq!(
            from_markdown("read-only x_y a+b, what? *really* ~ [x] {y} !z 2^3 - dash"),
            "read-only x_y a+b, what? _really_ \\~ \\[x\\] \\{y\\} \\!z 2\\^3 \\- dash"
        );
        let text = "read-only x_y ??cite?? -not strike- *no* +no+ {{no}} [no] ^no^ ~no~";
        let wiki = inline_wiki(&[Node::text(text, Vec::new())], false);
        assert_eq!(inline(&wiki), vec![Node::text(text, Vec::new())]);
    }

    #[test]
    fn markdown_becomes_wiki_markup() {
        let wiki = from_markdown(
            "# Title\n\nSome **bold**, *em*, ~~gone~~, `code` and [link](https://x.y).\nnext\\\nbreak\n\n- a\n  - b\n1. c\n\n> q\n\n```sh\nls\n```\n\n| h |\n|---|\n| c |",
        );
        assert_eq!(
            wiki,
            "h1. Title\n\nSome *bold*, _em_, -gone-, {{code}} and [link|https://x.y]. next\nbreak\n\n* a\n** b\n\n# c\n\n{quote}\nq\n{quote}\n\n{code:sh}\nls\n{code}\n\n||h||\n|c|"
        );
        // And back: the same document.
        let again = to_markdown(&wiki);
        assert!(again.starts_with("# Title\n\nSome **bold**, *em*, ~~gone~~, `code` and [link](https://x.y). next\\\nbreak"), "{again}");
    }
}
