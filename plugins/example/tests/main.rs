//! The example connector's native tests in one binary: the acceptance suite and behaviour.

mod acceptance;
mod behaviour;
mod support;
