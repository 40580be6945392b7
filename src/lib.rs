//! ocb (OpenChargeback): FOCUS billing CSVs to statements, journals, PDFs and
//! a static website. The pipeline (DESIGN §4): discover → load → attribute →
//! flag → decide → rollup → render → write.

pub mod attribute;
pub mod audit;
pub mod books;
pub mod build;
pub mod census;
pub mod charge;
pub mod cli;
pub mod close;
pub mod closed_view;
pub mod closing;
pub mod commands;
pub mod config;
pub mod convert;
pub mod correct;
pub mod discover;
pub mod doctor;
pub mod flag;
pub mod focus;
pub mod hints;
pub mod interrupt;
pub mod issued;
pub mod journal;
pub mod load;
pub mod money;
pub mod numbers;
pub mod outputs;
pub mod pdf;
pub mod period;
pub mod pipeline;
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
