# One image for every service; the command picks the service: `rungate run <service>`
# (or `rungate serve` for the all-in-one mode).
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npx nx run-many -t build --parallel=2 --outputStyle=static && npm prune --omit=dev

FROM node:20-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends git openssh-client ca-certificates tini \
 && rm -rf /var/lib/apt/lists/* && useradd --system --uid 10001 --home /var/lib/rungate --create-home rungate
WORKDIR /opt/rungate
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/bin ./bin
USER 10001
ENV NODE_ENV=production
ENTRYPOINT ["tini", "--", "node", "/opt/rungate/bin/rungate.js"]
CMD ["run", "gateway"]
