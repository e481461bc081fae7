# syntax=docker/dockerfile:1
#
# kefu: a self-hosted customer-service engine.
#
#   docker build -t kefu .
#   docker run --rm -p 8080:8080 kefu            # serves the demo bot
#
# The image holds the kefu binary, the ONNX Runtime library it loads at run
# time (/opt/onnxruntime) and the demo bot (/bot, the default config). The
# build runs `kefu check` inside the final image, so an image whose binary,
# library or bot is broken fails to build. Builds for the host architecture
# (x86_64 or arm64); cgo makes cross-building more work than it is worth.

############################ build ############################
FROM golang:1.26-bookworm AS build

# npm is only used to fetch ONNX Runtime (scripts/fetch-onnxruntime.sh takes
# the library from Microsoft's onnxruntime-node package and checks its sha256).
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm \
 && rm -rf /var/lib/apt/lists/*

# go.mod names a patch release; the image's GOTOOLCHAIN=local would refuse an
# older one, auto fetches it.
ENV GOTOOLCHAIN=auto
WORKDIR /src

# ONNX Runtime first: the download (about 115 MB) is cached until the script changes.
COPY scripts/fetch-onnxruntime.sh scripts/fetch-onnxruntime.sh
RUN bash scripts/fetch-onnxruntime.sh --dest /out/onnxruntime

# Go modules next, cached until go.mod/go.sum change.
COPY go.mod go.sum ./
RUN go mod download

COPY . .
RUN CGO_ENABLED=1 go build -trimpath -o /out/kefu ./cmd/kefu

# The demo bot, without any local state a developer may have had (data/).
RUN cp -r testdata/bots/demo /out/bot && rm -rf /out/bot/data

# A first check here, with the build stage's libraries: a broken build fails fast.
RUN KEFU_ONNXRUNTIME_LIB=/out/onnxruntime/libonnxruntime.so.1 \
    /out/kefu check --config /out/bot/kefu.yaml

############################ runtime ############################
FROM debian:bookworm-slim

# ca-certificates: HTTPS to providers; libstdc++6: ONNX Runtime needs it;
# wget: the HEALTHCHECK.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libstdc++6 wget \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 kefu \
 && useradd --system --uid 10001 --gid kefu --home-dir /bot --shell /usr/sbin/nologin kefu

COPY --from=build /out/kefu /usr/local/bin/kefu
COPY --from=build /out/onnxruntime/libonnxruntime.so.1 /opt/onnxruntime/libonnxruntime.so.1
COPY --from=build --chown=kefu:kefu /out/bot /bot
RUN mkdir -p /bot/data && chown kefu:kefu /bot/data

ENV KEFU_ONNXRUNTIME_LIB=/opt/onnxruntime/libonnxruntime.so.1

USER kefu:kefu
WORKDIR /bot

# The same check again in the image as it ships (its libraries, its user):
# the whole start-up path, models with a probe inference, flows, providers.
RUN ["kefu", "check", "--config", "/bot/kefu.yaml"]

# Embedded session and knowledge stores (sessions.db, knowledge.db) live here.
VOLUME /bot/data
EXPOSE 8080

# kefu serve ingests the knowledge base before it listens: give it time.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/healthz"]

# In a container the server must listen on 0.0.0.0, not the config's 127.0.0.1.
# Add --demo to also run the demo order service the demo bot's flows call.
ENTRYPOINT ["kefu"]
CMD ["serve", "--config", "/bot/kefu.yaml", "--addr", "0.0.0.0:8080"]
