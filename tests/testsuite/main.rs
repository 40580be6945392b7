//! The integration test suite: one binary, one module per capability. Each
//! test copies a fixture repository from `tests/fixtures/` into a temporary
//! folder and runs the real `ocb` binary on it. See tests/README.md.

mod access;
mod cache;
mod closing;
mod common;
mod convert;
mod credits;
mod desk;
mod desk_browser;
mod ingest;
mod newuser;
mod pdf;
mod pipeline;
mod properties;
mod reliability;
mod review;
mod send;
mod serve;
mod site;
mod sources;
