# syntax=docker/dockerfile:1
# Convene in a container: a release binary without the demo (`--no-default-features`) on a
# slim Debian base, running as an unprivileged user, data in the /data volume.
#
#   docker build -t convene .
#   docker run -d --name convene -p 127.0.0.1:8080:8080 -v convene-data:/data \
#     -e CONVENE_PUBLIC_URL=https://cal.example.com convene
#   docker logs convene        # the one-time admin setup link
#   docker exec convene convene backup /data/backup-$(date +%F).db

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --no-default-features -p convene \
    && install -m 0755 target/release/convene /usr/local/bin/convene

FROM debian:bookworm-slim
# curl only for the HEALTHCHECK; TLS roots are built into the binary.
RUN apt-get update \
    && apt-get install -y --no-install-recommends curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin convene \
    && mkdir -p /data && chown convene:convene /data && chmod 0700 /data
COPY --from=build /usr/local/bin/convene /usr/local/bin/convene
ENV CONVENE_LISTEN=0.0.0.0:8080 \
    CONVENE_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8080
USER convene
WORKDIR /data
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/readyz/ >/dev/null || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/convene"]
CMD ["serve"]
