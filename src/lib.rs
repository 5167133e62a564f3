//! Segmenter: one customer-segmentation answer shared by the ERP, the shop and the call-centre.

pub mod domain;
pub mod store;
