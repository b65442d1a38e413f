//! The DOORS connector's native tests in one binary: the SDK's acceptance suite, every ReqIF
//! sample against an independent parse, hostile inputs, paging over one parse and the size
//! bound, and the export (schema-valid, round trip), and DOORS Next over OSLC RM against a
//! fake built from the Lyo fixtures.

mod acceptance;
mod export;
mod hostile;
mod oslc;
mod paging;
mod samples;
mod support;
mod trs;
