//! Segmenter: one customer-segmentation answer shared by the ERP, the shop and the call-centre.

pub mod api;
pub mod app;
pub mod auth;
pub mod config;
pub mod demo;
pub mod domain;
pub mod import;
pub mod interchange;
pub mod server;
pub mod store;
pub mod telemetry;
