//! Compiles the protobuf contracts with protox (pure Rust), so a machine with only the Rust
//! toolchain can build: no system `protoc` is needed.

use std::{env, path::PathBuf};

use prost::Message;

const PROTOS: &[&str] = &[
    "proto/segmenter/v1/customer.proto",
    "proto/segmenter/v1/event.proto",
    "proto/segmenter/v1/segment.proto",
    "proto/segmenter/v1/strategy.proto",
    "proto/segmenter/v1/history_service.proto",
    "proto/segmenter/v1/segmentation_service.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let descriptors = protox::compile(PROTOS, ["proto"])?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    // Served by gRPC reflection; compile_fds does not write it for us.
    std::fs::write(
        out_dir.join("segmenter_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;
    tonic_prost_build::configure()
        .btree_map(".")
        // Written by hand: they may carry classifications already encoded (src/api/wire.rs).
        .extern_path(
            ".segmenter.v1.BatchClassifyResponse",
            "crate::api::pb::BatchClassifyResponse",
        )
        .extern_path(
            ".segmenter.v1.ClassifyResponse",
            "crate::api::pb::ClassifyResponse",
        )
        .compile_fds(descriptors)?;
    Ok(())
}
