//! The gRPC surface: the generated `segmenter.v1` types, the conversions between them and the
//! domain, and the one mapping of errors to statuses. Service handlers live in sibling modules.

mod batch;
pub mod convert;
mod history;
mod predictive;
mod recommend;
mod segmentation;
pub mod status;
mod wire;

pub use history::HistoryApi;
pub use pb::FILE_DESCRIPTOR_SET;
pub use segmentation::SegmentationApi;

/// Health checks and reflection: calls orchestrators and tools make, which need no API key
/// and stay answerable under load.
pub fn is_infrastructure_call(path: &str) -> bool {
    path.starts_with("/grpc.health.") || path.starts_with("/grpc.reflection.")
}

/// Generated protobuf messages, enums and service stubs of package `segmenter.v1`.
pub mod pb {
    // Generated code is not ours to restyle (e.g. large oneof variants in responses).
    #![allow(clippy::all)]

    tonic::include_proto!("segmenter.v1");

    pub use super::wire::{BatchClassifyResponse, ClassifyResponse};

    /// The encoded descriptors of every `segmenter.v1` file (imports included), for reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("segmenter_descriptor");
}
