//! ocb (OpenChargeback): FOCUS billing CSVs to statements, journals, PDFs and
//! a static website. The pipeline (DESIGN §4): discover → load → attribute →
//! flag → decide → rollup → render → write.

pub mod access;
pub mod attribute;
pub mod build;
pub mod census;
pub mod charge;
pub mod charge_data;
pub mod cli;
pub mod close;
pub mod commands;
pub mod config;
pub mod convert;
pub mod discover;
pub mod doctor;
pub mod flag;
pub mod focus;
pub mod hints;
pub mod ingest;
pub mod interrupt;
pub mod journal;
pub mod load;
pub mod lock;
pub mod money;
pub mod outputs;
pub mod pdf;
pub mod pdf_links;
pub mod period;
pub mod pipeline;
pub mod portal;
pub mod precision;
pub mod problem;
pub mod projects;
pub mod review;
pub mod rollup;
pub mod sample;
pub mod send;
pub mod site;
pub mod slug;
pub mod svg;
pub mod theme;
pub mod view;
pub mod write;
