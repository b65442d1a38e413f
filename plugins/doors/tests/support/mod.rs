//! Test support: the ReqIF samples, a file server for them (a `FakeServer` answering one path
//! per file), the connector run through the SDK's harness, and an independent count of what a
//! ReqIF file holds, made with roxmltree (not the connector's quick-xml parser).

pub mod jazz;

use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use agentic_sdk::testing::{FakeResponse, FakeServer, Harness};
use agentic_sdk::{RecordData, Requirement, TraceLink};
use doors::DoorsConnector;
use serde_json::{json, Value};

/// `tests/fixtures`.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Every sample: (file name, bytes).
pub fn samples() -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(fixtures().join("reqif"))
        .expect("fixtures/reqif")
        .map(|e| e.expect("dir entry").path())
        .collect();
    files.sort();
    let samples: Vec<_> = files
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).expect("sample"))
        })
        .collect();
    assert_eq!(samples.len(), 16, "every sample of fixtures/reqif");
    samples
}

/// A file server: `GET /files/<name>` answers the bytes put there.
pub struct Files {
    server: FakeServer,
    files: Arc<Mutex<HashMap<String, Vec<u8>>>>,
}

impl Files {
    pub fn start() -> Self {
        let files: Arc<Mutex<HashMap<String, Vec<u8>>>> = Arc::default();
        let served = files.clone();
        let server = FakeServer::start(move |request| {
            let name = request.path.strip_prefix("/files/").unwrap_or_default();
            match served.lock().unwrap().get(name) {
                Some(bytes) if request.method == "GET" => FakeResponse {
                    status: 200,
                    headers: vec![("content-type".into(), "application/octet-stream".into())],
                    body: bytes.clone(),
                },
                _ => FakeResponse::status(404),
            }
        });
        Self { server, files }
    }

    /// Serves `bytes` as `name`.
    pub fn put(&self, name: &str, bytes: Vec<u8>) {
        self.files.lock().unwrap().insert(name.to_owned(), bytes);
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    /// How many times `name` was downloaded so far.
    pub fn downloads(&self, name: &str) -> usize {
        let path = format!("/files/{name}");
        self.server
            .requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path == path)
            .count()
    }

    /// A harness calling as a connection whose base URL is this server.
    pub fn harness(&self) -> Harness<DoorsConnector> {
        Harness::new(DoorsConnector).with_base_url(self.url())
    }
}

/// The configuration reading `/files/<name>`, `page_size` records a page.
pub fn config(name: &str, page_size: u32) -> Value {
    json!({"reqif_path": format!("/files/{name}"), "page_size": page_size})
}

/// Every requirement and link of `name`, read page by page to the end.
pub fn import(files: &Files, name: &str, page_size: u32) -> (Vec<Requirement>, Vec<TraceLink>) {
    let harness = files.harness();
    let config = config(name, page_size);
    let mut requirements = Vec::new();
    for page in harness
        .read_all(&config, "requirements", None)
        .expect("requirements")
    {
        for record in page.records {
            match record {
                RecordData::Requirement(r) => requirements.push(r),
                other => panic!("not a requirement: {other:?}"),
            }
        }
    }
    let mut links = Vec::new();
    for page in harness.read_all(&config, "links", None).expect("links") {
        for record in page.records {
            match record {
                RecordData::TraceLink(l) => links.push(l),
                other => panic!("not a trace link: {other:?}"),
            }
        }
    }
    (requirements, links)
}

/// What an independent parse counts in a ReqIF document.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counts {
    pub spec_objects: usize,
    pub spec_relations: usize,
    pub specifications: usize,
    /// `SPEC-HIERARCHY` nodes whose object is in the file (partial exports point elsewhere).
    pub hierarchy_nodes: usize,
    /// `ATTRIBUTE-VALUE-*` elements of spec objects.
    pub object_values: usize,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, o: Counts) {
        self.spec_objects += o.spec_objects;
        self.spec_relations += o.spec_relations;
        self.specifications += o.specifications;
        self.hierarchy_nodes += o.hierarchy_nodes;
        self.object_values += o.object_values;
    }
}

/// Counts with roxmltree; a `.reqifz` is unpacked and each `.reqif` in it counted.
pub fn independent_counts(bytes: &[u8]) -> Counts {
    if bytes.starts_with(b"PK") {
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("zip");
        let mut total = Counts::default();
        for i in 0..zip.len() {
            let mut entry = zip.by_index(i).unwrap();
            if entry.name().ends_with(".reqif") {
                let mut xml = Vec::new();
                entry.read_to_end(&mut xml).unwrap();
                total += independent_counts(&xml);
            }
        }
        return total;
    }
    let text = std::str::from_utf8(bytes).expect("UTF-8");
    let doc = roxmltree::Document::parse(text).expect("well-formed");
    let name = |n: Option<roxmltree::Node>| {
        n.map(|n| n.tag_name().name().to_owned())
            .unwrap_or_default()
    };
    let mut counts = Counts::default();
    let objects: std::collections::HashSet<&str> = doc
        .descendants()
        .filter(|n| n.tag_name().name() == "SPEC-OBJECT" && name(n.parent()) == "SPEC-OBJECTS")
        .filter_map(|n| n.attribute("IDENTIFIER"))
        .collect();
    fn object_of<'a>(n: roxmltree::Node<'a, '_>) -> Option<&'a str> {
        n.children()
            .find(|c| c.tag_name().name() == "OBJECT")
            .and_then(|o| {
                o.descendants()
                    .find(|d| d.tag_name().name() == "SPEC-OBJECT-REF")
            })
            .and_then(|r| r.text())
            .map(str::trim)
    }
    for node in doc.descendants().filter(|n| n.is_element()) {
        let parent = name(node.parent());
        match node.tag_name().name() {
            "SPEC-OBJECT" if parent == "SPEC-OBJECTS" => counts.spec_objects += 1,
            "SPEC-RELATION" if parent == "SPEC-RELATIONS" => counts.spec_relations += 1,
            "SPECIFICATION" if parent == "SPECIFICATIONS" => counts.specifications += 1,
            "SPEC-HIERARCHY" if object_of(node).is_some_and(|o| objects.contains(o)) => {
                counts.hierarchy_nodes += 1
            }
            n if n.starts_with("ATTRIBUTE-VALUE-")
                && parent == "VALUES"
                && name(node.parent().and_then(|p| p.parent())) == "SPEC-OBJECT" =>
            {
                counts.object_values += 1
            }
            _ => {}
        }
    }
    counts
}

/// The same counts from imported records.
pub fn record_counts(requirements: &[Requirement], links: &[TraceLink]) -> Counts {
    let mut specs = std::collections::BTreeSet::new();
    let mut counts = Counts {
        spec_objects: requirements.len(),
        spec_relations: links.len(),
        ..Counts::default()
    };
    for r in requirements {
        counts.object_values += r.attributes.keys().filter(|k| *k != "reqif").count();
        let positions = r.attributes["reqif"]["positions"]
            .as_array()
            .expect("positions");
        counts.hierarchy_nodes += positions.len();
        for p in positions {
            specs.insert(p["specification"].as_str().unwrap().to_owned());
        }
    }
    counts.specifications = specs.len();
    counts
}
