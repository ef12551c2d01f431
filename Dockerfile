# The application image for docker-compose.yml: workers, bridges, the codec server, migrations and
# topic creation all run from it with different commands. The stand-ins for other companies'
# systems (stand-ins/) are not product and stay out of it; compose mounts them from the repository.
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY migrations ./migrations
COPY scripts/build-workflows.ts ./scripts/
# Managing the codec server's operators: docker compose run --rm codec-server npx tsx scripts/codec-operators.ts add NAME
COPY scripts/codec-operators.ts ./scripts/
# Workers load these instead of bundling their workflows at every start.
RUN npx tsx scripts/build-workflows.ts /app/build/workflows
ENV NODE_ENV=production WORKFLOW_BUNDLE_DIR=/app/build/workflows
# The processes run as the base image's unprivileged user (uid 1000); the files above stay root's,
# so a process can read its code but not change it.
USER node
CMD ["npx", "tsx", "src/workers/main.ts"]
