# The oncelink gateway as a container image: one static executable in an empty root.
#
#   docker build -t oncelink .            # or: podman build / buildah bud --format docker
#   docker run -d -p 8787:8787 -v oncelink-data:/data \
#     -e ONCELINK_PUBLIC_URL=http://localhost:8787 oncelink
#
# What is in the image: /oncelink (static), the CA bundle (TLS to S3 and DynamoDB), an
# /etc/passwd naming uid 65532, and /data, a volume owned by 65532 (the ledger, the signing keys,
# the API token and, without --origin-endpoint, the objects). No shell, no package manager: the
# HEALTHCHECK is the binary's own `oncelink healthcheck`. The process runs as 65532:65532 and
# needs no capability and no writable path but /data, so a read-only root file system works.
#
# Stages: `build` compiles with deploy/container/build-static.sh (the script the tests run too);
# `files` is whichever stage provides the root's files (ARG FILES); the last stage is the image.
# tests/container/run.sh cannot pull the Rust image (no registry but the package registries is
# reachable there), so it runs build-static.sh on the host into a context directory `prebuilt/`
# and builds this same final stage with `--build-arg FILES=prebuilt`. The unused stage is
# skipped (BuildKit and buildah both skip stages the target does not need).

ARG RUST_IMAGE=docker.io/library/rust:1.95-bookworm
ARG FILES=build

FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY . .
RUN sh deploy/container/build-static.sh /out

# The root's files laid out by build-static.sh outside the image (tests/container/run.sh).
FROM scratch AS prebuilt
COPY prebuilt/ /out/

FROM ${FILES} AS files

FROM scratch
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="oncelink" \
      org.opencontainers.image.description="One-time download and upload links for S3 objects: the self-hosted gateway" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=files /out/etc/ /etc/
COPY --from=files /out/oncelink /oncelink
# Created owned by the image's user before VOLUME: a new named volume starts as a copy of it
# (Docker, Podman, ECS), so the non-root process can write there.
COPY --from=files --chown=65532:65532 /out/data/ /data/
USER 65532:65532
ENV ONCELINK_DATA_DIR=/data \
    ONCELINK_LISTEN=0.0.0.0:8787
VOLUME ["/data"]
EXPOSE 8787
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 CMD ["/oncelink", "healthcheck"]
ENTRYPOINT ["/oncelink"]
CMD ["serve"]
