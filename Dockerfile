# syntax=docker/dockerfile:1
#
# conntrack-exporter image. Built on Debian with Node 24, run on distroless nodejs24: glibc (the
# `netlink` addon's prebuilt binaries are glibc builds), no shell, no package manager.
#
#   docker build -t conntrack-exporter .
#   docker run --rm --network host --user 0 --cap-add NET_ADMIN conntrack-exporter
#
# The image runs as UID 65532 by default; ctnetlink needs CAP_NET_ADMIN, which only UID 0 can
# use, so the Helm chart's default (netlink) mode runs it as UID 0 with only NET_ADMIN.
# Checked by test/deploy/dockerfile.test.ts; the runtime stage is reproduced by image.test.ts.

ARG BUILD_IMAGE=node:24-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian12:nonroot

# 1. Compile the TypeScript sources, with the dev dependencies.
FROM ${BUILD_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json .npmrc ./
# No install scripts: the compiler needs none (and the `node` devDependency would download Node).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN ./node_modules/.bin/tsc -p tsconfig.build.json
# The events collector's netlink socket (native/nlmc.c): Node-API, compiled by the image's gcc.
COPY native/nlmc.c ./native/
COPY scripts/build-native.ts ./scripts/
RUN node scripts/build-native.ts

# 2. Production dependencies only, installed on the same Debian/glibc userland as the runtime
#    (the netlink addon's install script picks its prebuilt binary, or compiles one here).
FROM ${BUILD_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# 3. Runtime: node, the production node_modules, the compiled exporter and its socket addon, and package.json (ESM
#    "type" and the version shown in conntrack_exporter_build_info). Nothing else.
FROM ${RUNTIME_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="conntrack-exporter" \
      org.opencontainers.image.description="Linux conntrack exporter for Prometheus and OpenTelemetry" \
      org.opencontainers.image.url="https://github.com/conntrack-exporter/conntrack-exporter" \
      org.opencontainers.image.source="https://github.com/conntrack-exporter/conntrack-exporter" \
      org.opencontainers.image.documentation="https://github.com/conntrack-exporter/conntrack-exporter/blob/main/docs/deploy.md" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="gcr.io/distroless/nodejs24-debian12:nonroot"
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist/src ./dist/src
COPY --from=build /src/native/build/nlmc.node ./native/build/
COPY package.json ./
# Numeric, so that Kubernetes can verify runAsNonRoot against it.
USER 65532:65532
EXPOSE 9469
# distroless sets ENTRYPOINT to node; reset it so that CMD alone says what runs: node itself as
# PID 1 (exec form, no shell), so SIGTERM reaches the exporter's handler.
ENTRYPOINT []
CMD ["/nodejs/bin/node", "/app/dist/src/cli.js"]
