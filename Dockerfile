# syntax=docker/dockerfile:1
# The segmenter server image: `docker build -t segmenter .` from the repository root.
# The Helm chart (helm/segmenter) runs it as user 10001 with a read-only root filesystem.

# ---- build -------------------------------------------------------------------------------
FROM rust:1-bookworm AS builder
WORKDIR /build

# Dependencies first, in their own layer: a stub crate with the real manifest and lock file,
# so this layer is rebuilt only when Cargo.toml or Cargo.lock change. (The stub build script
# makes Cargo build the build-dependencies too.)
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
    && echo 'fn main() {}' > build.rs \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf build.rs src \
        target/release/segmenter* \
        target/release/.fingerprint/segmenter-* \
        target/release/build/segmenter-* \
        target/release/deps/segmenter-* \
        target/release/deps/libsegmenter-*

# The crate itself: protobuf contracts (compiled by build.rs with protox, no protoc needed),
# sources, migrations and the built-in rule set.
COPY build.rs ./
COPY proto ./proto
COPY src ./src
RUN cargo build --release --locked --bin segmenter \
    && install -D -m 0755 target/release/segmenter /out/segmenter

# ---- run ---------------------------------------------------------------------------------
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install --yes --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 segmenter \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /data --shell /usr/sbin/nologin segmenter \
    && install -d -o 10001 -g 10001 -m 0750 /data
COPY --from=builder /out/segmenter /usr/local/bin/segmenter

# The working directory holds the default SQLite file (sqlite://segmenter.db) when no
# database is configured, e.g. `docker run -p 50051:50051 IMAGE serve --listen 0.0.0.0:50051 --demo`.
WORKDIR /data
USER 10001:10001
# gRPC, Prometheus metrics (/metrics).
EXPOSE 50051 9464
ENTRYPOINT ["/usr/local/bin/segmenter"]
CMD ["serve"]
