# One image for every service; the command picks it: `rungate run <service>` (gateway,
# git-sync, policy, audit, executor-postgres, executor-ssh, executor-kubernetes,
# executor-shell), or `rungate serve` for the all-in-one mode.
#
# What the executors find in it: executor-postgres and executor-ssh are pure JavaScript
# (pg, ssh2), executor-kubernetes talks to the API server itself (@kubernetes/client-node),
# and executor-shell runs scripts with /bin/sh or /bin/bash from the base image. No psql,
# kubectl, cloud CLIs or database clients are bundled: a shell runbook that calls one needs
# an image built FROM this one that adds it (deploy/README.md).

FROM node:20-bookworm-slim AS build
WORKDIR /src
# No Nx daemon or cloud in a one-shot build.
ENV NX_DAEMON=false NX_NO_CLOUD=true
COPY package.json package-lock.json ./
# Install scripts off: they only build optional native add-ons (ssh2's crypto binding,
# cpu-features) that ssh2 works without, and would need a compiler the slim image lacks.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
# tsc compiles the CLI and every library into dist/ (each service starts with `rungate run
# <service>`), the build checks that the compiled code requires only production dependencies,
# and dist/pglite gets the template for `rungate serve`'s first start; then the dev
# dependencies go.
RUN npm run build \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:20-bookworm-slim
# git and openssh-client: git-sync mirrors over https and ssh; tini: signals reach node, so
# executors drain in-flight runs on SIGTERM.
RUN apt-get update \
 && apt-get install -y --no-install-recommends git openssh-client ca-certificates tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 rungate \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/rungate --create-home --shell /usr/sbin/nologin rungate \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/rungate/git
WORKDIR /opt/rungate
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/bin ./bin
COPY deploy/healthcheck.js ./healthcheck.js
ENV NODE_ENV=production
USER 10001:10001
# Relative paths in a config (git-sync's default cacheDir, `rungate serve`'s .rungate/) land
# in the service user's writable home, not in the read-only application directory.
WORKDIR /var/lib/rungate
ENTRYPOINT ["tini", "--", "node", "/opt/rungate/bin/rungate.js"]
CMD ["run", "gateway"]
