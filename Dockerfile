# syntax=docker/dockerfile:1
#
# adit server image.
#
# Base: node:24-bookworm-slim (Node 24 LTS on Debian 12, glibc), not alpine:
#  - Node's official Linux builds are glibc builds; the musl build that alpine
#    uses is an "experimental" tier of Node's support matrix;
#  - the optional ws accelerators (bufferutil, utf-8-validate) ship glibc
#    prebuilds only, so they load here without a compiler;
#  - musl's resolver differs from glibc's (search domains, TCP fallback),
#    and the server resolves Redis/Memorystore and metadata hosts.
# The slim image has no curl, so the HEALTHCHECK below is a node one-liner.
# Pin a digest (node:24-bookworm-slim@sha256:...) in your own registry mirror
# for reproducible builds; NODE_IMAGE lets you do that without editing here.
ARG NODE_IMAGE=node:24-bookworm-slim

# ---- build: full dependency tree, TypeScript compile --------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
# Dependencies first, in their own layer, so a source change does not
# reinstall them. Scripts are skipped here because "prepare" runs tsc and the
# sources are not copied yet; the build runs explicitly below.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
# npm run build = tsc, then the npm bin's bundle (dist/cli, for `adit` from npm; the image runs dist/src).
COPY scripts/bundle-cli.mjs ./scripts/
RUN npm run build

# ---- runtime: production dependencies + compiled output only ------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    PORT=8080
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: "prepare" would run tsc, which is a dev dependency and is
# not installed here. bufferutil/utf-8-validate load their bundled prebuilds
# at run time (node-gyp-build), so skipping their install scripts is safe;
# where no prebuild fits, ws falls back to its JavaScript code paths.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force
COPY --from=build /app/dist/src ./dist/src
# The image's built-in unprivileged "node" user (uid 1000). Nothing in /app is
# writable by it. The server's store (tunnels, names, rules, revocations) is a
# SQLite file in ADIT_DATA_DIR (default ~/.local/state/adit; on Cloud Run a
# fresh /tmp folder): mount a volume there and set ADIT_DATA_DIR to keep it.
# better-sqlite3's install script is skipped here; Node 24's node:sqlite is used.
USER node
EXPOSE 8080
# Docker/Compose/Kubernetes-style liveness probe. Cloud Run ignores
# HEALTHCHECK; deploy/cloud-run.sh sets its own startup and liveness probes.
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Signal handling: no tini. The exec-form CMD makes node PID 1 and the
# server installs its own SIGTERM/SIGINT handlers (GOAWAY to agents, drain,
# exit), which is all PID 1 needs: a PID 1 without a handler would ignore
# SIGTERM, but this one has one, and it spawns no children, so there are no
# zombies to reap. Cloud Run has no --init; with plain Docker you may still
# add `docker run --init`, which changes nothing for the server.
STOPSIGNAL SIGTERM
CMD ["node", "dist/src/bin.js", "server"]
