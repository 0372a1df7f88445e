//! Tests across the audit module: directory files, reconciliation, the continuous
//! core across restarts.

mod continuous;
mod directory;
mod ocsf;
mod render;
