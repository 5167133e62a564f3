//! End-to-end tests of the gRPC surface: the real server, started in-process on port 0 over a
//! fresh SQLite file, with a fixed clock, called through the generated clients.

#[path = "grpc/fixtures.rs"]
mod fixtures;
#[path = "grpc/support.rs"]
mod support;

#[path = "grpc/batch.rs"]
mod batch;
#[path = "grpc/classify.rs"]
mod classify;
#[path = "grpc/demo.rs"]
mod demo;
#[path = "grpc/durability.rs"]
mod durability;
#[path = "grpc/events.rs"]
mod events;
#[path = "grpc/history.rs"]
mod history;
#[path = "grpc/ingest.rs"]
mod ingest;
#[path = "grpc/model.rs"]
mod model;
#[path = "grpc/predictive.rs"]
mod predictive;
#[path = "grpc/readme.rs"]
mod readme;
#[path = "grpc/recommend.rs"]
mod recommend;
#[path = "grpc/reflection.rs"]
mod reflection;
#[path = "grpc/rules.rs"]
mod rules;
#[path = "grpc/segments.rs"]
mod segments;
