# herald in a container: `docker build -t herald .`, then
#   docker run --rm -v "$PWD:/workspace" -w /workspace -e GENESYSCLOUD_OAUTHCLIENT_ID -e ... herald plan
# The image holds only the binary and CA certificates; it runs as an unprivileged user.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin herald

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates git \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 herald
COPY --from=build /src/target/release/herald /usr/local/bin/herald
USER herald
WORKDIR /workspace
ENTRYPOINT ["herald"]
CMD ["--help"]
