//! Native tests of the Google connector against the fake Google of `tests/fake-google`, which
//! checks every request against Google's discovery documents.

mod acceptance;
mod actions;
mod docs;
mod errors;
mod events;
mod files;
mod people;
mod support;
