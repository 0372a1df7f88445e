# syntax=docker/dockerfile:1
#
# The streak-connector image: one static-ish Rust binary on distroless.
#
#   docker build -t streak-connector:local .
#   docker run --rm streak-connector:local --help
#
# Build stage: rust on Debian bookworm, with what rdkafka needs to build librdkafka
# and a vendored OpenSSL from source (a C toolchain, make, perl, cmake). Runtime
# stage: gcr.io/distroless/cc-debian12 (glibc and libgcc, same Debian release as the
# builder, no shell, no package manager), running as the numeric non-root user 65532
# so Kubernetes' runAsNonRoot can verify it. The binary writes nothing to disk: the
# image runs with a read-only root filesystem (docker run --read-only, compose
# read_only: true, Kubernetes readOnlyRootFilesystem: true).
#
# Health: distroless has no shell or curl, so the image carries a tiny probe
# (deploy/healthcheck/, standard library only, built here with rustc) that GETs
# /healthz on the metrics port (STREAK_CONNECTOR_METRICS_LISTEN, default
# 0.0.0.0:9464). Kubernetes ignores HEALTHCHECK and uses the chart's HTTP probes.
# See docs/operations.md, "Container image".

ARG RUST_IMAGE=rust:1-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

FROM ${RUST_IMAGE} AS builder
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential cmake perl pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Cache mounts keep the crates.io downloads and the target dir between builds (BuildKit,
# the default builder of current Docker); the binary is copied out in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin streak-connector \
 && mkdir -p /out \
 && cp target/release/streak-connector /out/streak-connector \
 && strip /out/streak-connector
RUN rustc --edition 2021 -C opt-level=3 -C strip=symbols -C panic=abort \
      -o /out/healthcheck deploy/healthcheck/main.rs \
 && /out/streak-connector --version

FROM ${RUNTIME_IMAGE}
LABEL org.opencontainers.image.title="streak-connector" \
      org.opencontainers.image.description="Kafka source connector for Streak CRM organization membership" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /out/streak-connector /usr/local/bin/streak-connector
COPY --from=builder /out/healthcheck /usr/local/bin/healthcheck
USER 65532:65532
# /metrics, /healthz, /readyz (--metrics-listen). The admin API listens on
# --admin-listen (default 127.0.0.1:9465, loopback: not exposed).
EXPOSE 9464
# Alive, not ready: /readyz also fails while an organization's polls fail, and a
# restart would not fix that. Compose and Kubernetes set their own checks.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/healthcheck"]
# SIGTERM is the connector's graceful stop: the cycle in flight commits or aborts,
# then it exits 0. Give it the transaction timeout + 15 s (docs/operations.md,
# "Stopping").
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/streak-connector"]
CMD ["run"]
