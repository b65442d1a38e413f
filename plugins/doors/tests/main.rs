//! The DOORS connector's native tests in one binary: the SDK's acceptance suite, every ReqIF
//! sample against an independent parse, hostile inputs, and the export (schema-valid, round
//! trip).

mod acceptance;
mod export;
mod hostile;
mod samples;
mod support;
