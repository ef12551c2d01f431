# The application image for docker-compose.yml, in three stages:
#   base     Node and tini, the init process every container runs under (PID 1 passes SIGTERM on to
#            node and reaps what it leaves behind), also under a plain `docker run`.
#   build    every dependency, dev ones included; compiles src/ to dist/ (tsconfig.build.json) and
#            prebuilds each pipeline's workflow bundle. Compose runs the stand-ins for other
#            companies' systems from this stage (they are not product, and run from source with tsx).
#   runtime  (the last stage, what `docker build .` makes) production dependencies, dist/, the bundles
#            and the migrations: workers, bridges, the payment API, the codec server, migrations and
#            topic creation, each `node dist/...`. No TypeScript, no tsx, no sources.
# The base is pinned by version and by the digest of its multi-arch index, so a rebuild gets the
# same Node and Debian until someone changes this line (docs/production/image.md says how).
FROM node:20.20.2-bookworm-slim@sha256:2cf067cfed83d5ea958367df9f966191a942351a2df77d6f0193e162b5febfc0 AS base
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENTRYPOINT ["/usr/bin/tini", "--"]

FROM base AS build
# npm ci applies patches/ to the dependencies it installs (package.json's postinstall).
COPY package.json package-lock.json ./
COPY patches ./patches
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts/build-workflows.ts ./scripts/
RUN npx tsc -p tsconfig.build.json
# Workers load these instead of bundling their workflows at every start.
RUN npx tsx scripts/build-workflows.ts /app/build/workflows
# The stand-ins (mounted by compose) run from here, as the runtime stage's processes do: unprivileged.
USER node

FROM base AS runtime
ENV NODE_ENV=production
COPY package.json package-lock.json ./
COPY patches ./patches
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY migrations ./migrations
COPY --from=build /app/dist ./dist
COPY --from=build /app/build/workflows ./build/workflows
ENV WORKFLOW_BUNDLE_DIR=/app/build/workflows
# Deploys (docs/production/deploys.md): the build ID its workers poll as, when WORKER_DEPLOYMENT_NAME
# is set; `docker build --build-arg WORKER_BUILD_ID=...`. Empty, src/config.ts takes package.json's version.
ARG WORKER_BUILD_ID=""
ENV WORKER_BUILD_ID=${WORKER_BUILD_ID}
# The processes run as the base image's unprivileged user (uid 1000); the files above stay root's,
# so a process can read its code but not change it.
USER node
CMD ["node", "dist/workers/main.js"]
