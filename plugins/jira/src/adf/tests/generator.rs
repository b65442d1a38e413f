//! A small deterministic generator of schema-valid ADF, for the round-trip tests on thousands of
//! documents nobody wrote: every node and mark of the schema, placed only where the content
//! rules (`sanitize`) allow it, with text made of the pieces Markdown reads as syntax.

use serde_json::{json, Value};

use crate::adf::sanitize::{allowed_children, allowed_inlines};

/// A small deterministic generator of schema-valid ADF (xorshift64*).
pub(super) struct Gen {
    state: u64,
    ids: u64,
}

impl Gen {
    pub(super) fn new(seed: u64) -> Self {
        Self {
            state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            ids: 0,
        }
    }

    fn next(&mut self) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub(super) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    pub(super) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn id(&mut self) -> String {
        self.ids += 1;
        format!("id-{}", self.ids)
    }

    fn text(&mut self) -> String {
        const PIECES: &[&str] = &[
            "word",
            "Jira",
            " ",
            "  ",
            "*",
            "**",
            "_",
            "__",
            "~",
            "~~",
            "`",
            "``",
            "[",
            "]",
            "(",
            ")",
            "<",
            ">",
            "#",
            "# ",
            "1.",
            "2)",
            "-",
            "- ",
            "+",
            "=",
            "|",
            "\\",
            ":",
            "::",
            ":::",
            ":strong[",
            "{",
            "}",
            "&",
            "&amp;",
            "&nbsp;",
            "!",
            "![",
            "\"",
            "'",
            "é",
            "😀",
            "\u{a0}",
            "\t",
            "\n",
            "http://x.y",
            "snake_case",
            "a*b",
            "x",
            "y",
            "42",
            ".",
            ",",
        ];
        let n = 1 + self.below(6);
        let mut s = String::new();
        for _ in 0..n {
            let piece = *self.pick(PIECES);
            s.push_str(piece);
        }
        s
    }

    fn color(&mut self) -> String {
        format!("#{:06x}", self.next() % 0x100_0000)
    }

    fn text_marks(&mut self) -> Vec<Value> {
        let mut marks = Vec::new();
        if self.chance(15) {
            marks.push(json!({"type": "code"}));
            if self.chance(30) {
                marks.push(json!({"type": "link", "attrs": {"href": format!("https://e.x/{}", self.below(3))}}));
            }
            if self.chance(20) {
                marks.push(json!({"type": "annotation", "attrs": {"id": format!("an{}", self.below(2)), "annotationType": "inlineComment"}}));
            }
            return marks;
        }
        type Recipe = fn(&mut Gen) -> Value;
        let options: [(usize, Recipe); 9] = [
            (25, |_| json!({"type": "strong"})),
            (25, |_| json!({"type": "em"})),
            (12, |_| json!({"type": "strike"})),
            (15, |g| {
                let href = g
                    .pick(&[
                        "https://e.x/a",
                        "https://e.x/a b",
                        "https://e.x/(p)",
                        "mailto:a@b.c",
                        "",
                        "a\\b&c",
                    ])
                    .to_string();
                if g.chance(30) {
                    json!({"type": "link", "attrs": {"href": href, "title": g.text()}})
                } else if g.chance(10) {
                    json!({"type": "link", "attrs": {"href": href, "id": "l1", "collection": "c"}})
                } else {
                    json!({"type": "link", "attrs": {"href": href}})
                }
            }),
            (
                8,
                |g| json!({"type": "subsup", "attrs": {"type": *g.pick(&["sub", "sup"])}}),
            ),
            (8, |_| json!({"type": "underline"})),
            (
                8,
                |g| json!({"type": "textColor", "attrs": {"color": g.color()}}),
            ),
            (
                5,
                |g| json!({"type": "backgroundColor", "attrs": {"color": g.color()}}),
            ),
            (
                5,
                |g| json!({"type": "annotation", "attrs": {"id": format!("an{}", g.below(2)), "annotationType": "inlineComment"}}),
            ),
        ];
        for (percent, make) in options {
            if self.chance(percent) {
                marks.push(make(self));
            }
        }
        marks
    }

    fn inline(&mut self, parent: &str) -> Value {
        let allowed = allowed_inlines(parent);
        loop {
            let kind = *self.pick(&[
                "text",
                "text",
                "text",
                "text",
                "text",
                "text",
                "hardBreak",
                "mention",
                "emoji",
                "date",
                "status",
                "placeholder",
                "inlineCard",
                "inlineExtension",
                "mediaInline",
            ]);
            if !allowed.contains(&kind) {
                continue;
            }
            return match kind {
                "text" => {
                    let marks = self.text_marks();
                    if marks.is_empty() {
                        json!({"type": "text", "text": self.text()})
                    } else {
                        json!({"type": "text", "text": self.text(), "marks": marks})
                    }
                }
                "hardBreak" => {
                    if self.chance(50) {
                        json!({"type": "hardBreak", "attrs": {"text": "\n"}})
                    } else {
                        json!({"type": "hardBreak"})
                    }
                }
                "mention" => {
                    let mut attrs = json!({"id": format!("acc-{}", self.below(5))});
                    if self.chance(70) {
                        attrs["text"] = json!(format!("@{}", self.text()));
                    }
                    if self.chance(30) {
                        attrs["userType"] = json!(*self.pick(&["DEFAULT", "SPECIAL", "APP"]));
                        attrs["accessLevel"] = json!("CONTAINER");
                    }
                    json!({"type": "mention", "attrs": attrs})
                }
                "emoji" => {
                    json!({"type": "emoji", "attrs": {"shortName": format!(":{}:", self.pick(&["smile", "+1", "grin_x"])), "id": "1f600", "text": "😀"}})
                }
                "date" => {
                    json!({"type": "date", "attrs": {"timestamp": (1_600_000_000_000_u64 + self.next() % 100_000_000_000).to_string()}})
                }
                "status" => {
                    json!({"type": "status", "attrs": {"text": format!("S{}", self.text()), "color": *self.pick(&["neutral", "purple", "blue", "red", "yellow", "green", "#abcdef"]), "localId": self.id()}})
                }
                "placeholder" => json!({"type": "placeholder", "attrs": {"text": self.text()}}),
                "inlineCard" => {
                    if self.chance(70) {
                        json!({"type": "inlineCard", "attrs": {"url": *self.pick(&["https://e.x/card", "https://e.x/a b", "not a url"])}})
                    } else {
                        json!({"type": "inlineCard", "attrs": {"data": {"name": self.text()}}})
                    }
                }
                "inlineExtension" => {
                    let mut node = json!({"type": "inlineExtension", "attrs": {"extensionKey": "k", "extensionType": "t", "parameters": {"p": [1, "]"]}}});
                    if self.chance(50) {
                        node["attrs"]["text"] = json!(self.text());
                    }
                    if self.chance(30) {
                        node["marks"] = json!([{"type": "fragment", "attrs": {"localId": "fr"}}]);
                    }
                    node
                }
                _ => {
                    let mut node = json!({"type": "mediaInline", "attrs": {"id": "m1", "collection": "c", "type": "file"}});
                    if self.chance(40) {
                        node["marks"] =
                            json!([{"type": "border", "attrs": {"size": 1, "color": "#123456"}}]);
                    }
                    node
                }
            };
        }
    }

    fn inlines(&mut self, parent: &str) -> Vec<Value> {
        let n = self.below(7);
        (0..n).map(|_| self.inline(parent)).collect()
    }

    fn with_inlines(&mut self, mut node: Value, parent: &str) -> Value {
        let content = self.inlines(parent);
        if !content.is_empty() {
            node["content"] = Value::Array(content);
        }
        node
    }

    fn paragraph(&mut self, parent: &str) -> Value {
        let node = self.with_inlines(json!({"type": "paragraph"}), "paragraph");
        let mut node = node;
        let mark = match parent {
            "doc" | "layoutColumn" => match self.below(8) {
                0 => Some(
                    json!([{"type": "alignment", "attrs": {"align": *self.pick(&["center", "end"])}}]),
                ),
                1 => Some(json!([{"type": "indentation", "attrs": {"level": 1 + self.below(6)}}])),
                2 => Some(json!([{"type": "fontSize", "attrs": {"fontSize": "small"}}])),
                _ => None,
            },
            "tableCell" | "tableHeader" if self.chance(10) => {
                Some(json!([{"type": "alignment", "attrs": {"align": "center"}}]))
            }
            "listItem" | "panel" | "expand" | "nestedExpand" | "blockTaskItem"
            | "bodiedExtension"
                if self.chance(10) =>
            {
                Some(json!([{"type": "fontSize", "attrs": {"fontSize": "small"}}]))
            }
            _ => None,
        };
        if let Some(marks) = mark {
            node["marks"] = marks;
        }
        node
    }

    fn media(&mut self) -> Value {
        let mut node = if self.chance(70) {
            json!({"type": "media", "attrs": {"type": *self.pick(&["file", "link"]), "id": format!("f{}", self.below(9)), "collection": "c"}})
        } else {
            json!({"type": "media", "attrs": {"type": "external", "url": "https://e.x/i.png"}})
        };
        if self.chance(20) {
            node["marks"] = json!([{"type": "link", "attrs": {"href": "https://e.x"}}]);
        }
        node
    }

    fn blocks(&mut self, parent: &str, depth: usize, min: usize, max: usize) -> Vec<Value> {
        let n = min + self.below(max - min + 1);
        (0..n).map(|_| self.block(parent, depth)).collect()
    }

    fn block(&mut self, parent: &str, depth: usize) -> Value {
        let allowed = allowed_children(parent);
        let shallow = [
            "paragraph",
            "heading",
            "codeBlock",
            "rule",
            "blockCard",
            "embedCard",
            "extension",
            "mediaGroup",
            "mediaSingle",
        ];
        let kind = loop {
            let kind = *self.pick(allowed);
            if depth < 4 || shallow.contains(&kind) {
                if kind == "paragraph" || self.chance(60) {
                    break kind;
                }
            } else if allowed.iter().all(|k| !shallow.contains(k)) {
                break kind;
            }
        };
        let d = depth + 1;
        match kind {
            "paragraph" => self.paragraph(parent),
            "heading" => {
                let level = 1 + self.below(6);
                let mut node = self.with_inlines(
                    json!({"type": "heading", "attrs": {"level": level}}),
                    "heading",
                );
                if matches!(parent, "doc" | "layoutColumn" | "tableCell" | "tableHeader")
                    && self.chance(15)
                {
                    node["marks"] = if self.chance(50) {
                        json!([{"type": "alignment", "attrs": {"align": "end"}}])
                    } else {
                        json!([{"type": "indentation", "attrs": {"level": 2}}])
                    };
                }
                node
            }
            "blockquote" => {
                json!({"type": "blockquote", "content": self.blocks("blockquote", d, 1, 3)})
            }
            "bulletList" => json!({"type": "bulletList", "content": self.list_items(d)}),
            "orderedList" => {
                let mut node = json!({"type": "orderedList", "content": self.list_items(d)});
                if self.chance(40) {
                    node["attrs"] = json!({"order": self.below(12)});
                }
                node
            }
            "listItem" => self.list_item(d),
            "taskList" => self.task_list(d),
            "codeBlock" => {
                let mut node = json!({"type": "codeBlock"});
                if self.chance(60) {
                    node["attrs"] = json!({"language": *self.pick(&["rust", "js", "", "c++", "my lang", "{x}", "a`b"])});
                }
                if self.chance(15) {
                    node["attrs"]["wrap"] = json!(true);
                }
                if parent == "doc" && self.chance(15) {
                    node["marks"] = json!([{"type": "breakout", "attrs": {"mode": "wide"}}]);
                }
                if self.chance(80) {
                    let text = format!(
                        "{}\n{}",
                        self.text(),
                        *self.pick(&["```", "~~~", ":::", "    code", "", "`"])
                    );
                    node["content"] = json!([{"type": "text", "text": text}]);
                }
                node
            }
            "rule" => json!({"type": "rule"}),
            "panel" => {
                json!({"type": "panel", "attrs": {"panelType": *self.pick(&["info", "note", "tip", "warning", "error", "success", "custom"])}, "content": self.blocks("panel", d, 1, 2)})
            }
            "table" => self.table(d),
            "expand" => {
                let mut node = json!({"type": "expand", "attrs": {"title": self.text()}, "content": self.blocks("expand", d, 1, 2)});
                if parent == "doc" && self.chance(20) {
                    node["marks"] = json!([{"type": "breakout", "attrs": {"mode": "wide"}}]);
                }
                node
            }
            "nestedExpand" => {
                json!({"type": "nestedExpand", "attrs": {}, "content": self.blocks("nestedExpand", d, 1, 2)})
            }
            "decisionList" => {
                let items: Vec<Value> = (0..1 + self.below(3))
                    .map(|_| {
                        let id = self.id();
                        self.with_inlines(json!({"type": "decisionItem", "attrs": {"localId": id, "state": "DECIDED"}}), "decisionItem")
                    })
                    .collect();
                json!({"type": "decisionList", "attrs": {"localId": self.id()}, "content": items})
            }
            "mediaGroup" => {
                let media: Vec<Value> = (0..1 + self.below(2)).map(|_| self.media()).collect();
                json!({"type": "mediaGroup", "content": media})
            }
            "mediaSingle" => {
                let mut content = vec![self.media()];
                if self.chance(30) {
                    content.push(self.with_inlines(json!({"type": "caption"}), "caption"));
                }
                json!({"type": "mediaSingle", "attrs": {"layout": "center"}, "content": content})
            }
            "blockCard" => json!({"type": "blockCard", "attrs": {"url": "https://e.x/b"}}),
            "embedCard" => {
                json!({"type": "embedCard", "attrs": {"url": "https://e.x/e", "layout": "wide"}})
            }
            "extension" => {
                json!({"type": "extension", "attrs": {"extensionKey": "k", "extensionType": "t", "parameters": {"q": "a\nb|c"}}})
            }
            "bodiedExtension" => {
                json!({"type": "bodiedExtension", "attrs": {"extensionKey": "k", "extensionType": "t"}, "content": self.blocks("bodiedExtension", d, 1, 2)})
            }
            "layoutSection" => {
                let columns: Vec<Value> = (0..2 + self.below(2))
                    .map(|_| json!({"type": "layoutColumn", "attrs": {"width": 33.3}, "content": self.blocks("layoutColumn", d, 1, 2)}))
                    .collect();
                json!({"type": "layoutSection", "content": columns})
            }
            "syncBlock" => {
                json!({"type": "syncBlock", "attrs": {"resourceId": "r", "localId": self.id()}})
            }
            "bodiedSyncBlock" => {
                json!({"type": "bodiedSyncBlock", "attrs": {"resourceId": "r", "localId": self.id()}, "content": self.blocks("bodiedSyncBlock", d, 1, 2)})
            }
            other => panic!("generator: no recipe for {other}"),
        }
    }

    fn list_item(&mut self, depth: usize) -> Value {
        let mut content = vec![if self.chance(85) {
            self.paragraph("listItem")
        } else {
            self.block("listItem", depth)
        }];
        content.extend(self.blocks("listItem", depth, 0, 2));
        json!({"type": "listItem", "content": content})
    }

    fn list_items(&mut self, depth: usize) -> Vec<Value> {
        (0..1 + self.below(3))
            .map(|_| self.list_item(depth))
            .collect()
    }

    fn task_list(&mut self, depth: usize) -> Value {
        let n = 1 + self.below(4);
        let mut items = Vec::new();
        for i in 0..n {
            let pick = self.below(10);
            let item = if pick < 7 || (i == 0 && pick < 9) || depth > 5 {
                let id = self.id();
                let state = *self.pick(&["TODO", "DONE"]);
                self.with_inlines(
                    json!({"type": "taskItem", "attrs": {"localId": id, "state": state}}),
                    "taskItem",
                )
            } else if pick < 9 {
                self.task_list(depth + 1)
            } else {
                let id = self.id();
                json!({"type": "blockTaskItem", "attrs": {"localId": id, "state": "TODO"}, "content": [self.paragraph("blockTaskItem")]})
            };
            items.push(item);
        }
        json!({"type": "taskList", "attrs": {"localId": self.id()}, "content": items})
    }

    fn table(&mut self, depth: usize) -> Value {
        let rows = 1 + self.below(3);
        let columns = 1 + self.below(3);
        let simple = self.chance(70);
        let mut content = Vec::new();
        for r in 0..rows {
            let mut cells = Vec::new();
            for _ in 0..columns {
                let kind = if simple && !self.chance(10) {
                    if r == 0 {
                        "tableHeader"
                    } else {
                        "tableCell"
                    }
                } else {
                    *self.pick(&["tableHeader", "tableCell"])
                };
                let body = if simple {
                    vec![self.with_inlines(json!({"type": "paragraph"}), "paragraph")]
                } else {
                    self.blocks(kind, depth + 1, 1, 2)
                };
                let mut cell = json!({"type": kind, "content": body});
                if self.chance(20) {
                    cell["attrs"] = json!({"colwidth": [100 + self.below(50)]});
                } else if !simple && self.chance(20) {
                    cell["attrs"] = json!({"colspan": 2, "background": "#ffffff"});
                }
                cells.push(cell);
            }
            content.push(json!({"type": "tableRow", "content": cells}));
        }
        let mut node = json!({"type": "table", "content": content});
        if self.chance(60) {
            node["attrs"] = json!({"isNumberColumnEnabled": self.chance(30), "layout": *self.pick(&["default", "center", "wide"]), "localId": self.id()});
        }
        node
    }

    pub(super) fn doc(&mut self) -> Value {
        json!({"type": "doc", "version": 1, "content": self.blocks("doc", 0, 1, 5)})
    }
}
