# The application image for docker-compose.yml: workers, bridges, the admin service and partner
# stand-ins, migrations and topic creation all run from it with different commands.
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY migrations ./migrations
COPY scripts/build-workflows.ts ./scripts/
# Workers load these instead of bundling their workflows at every start.
RUN npx tsx scripts/build-workflows.ts /app/build/workflows
ENV NODE_ENV=production WORKFLOW_BUNDLE_DIR=/app/build/workflows
CMD ["npx", "tsx", "src/workers/main.ts"]
