# The application image for docker-compose.yml: workers, bridges, admin service, migrations and
# topic creation all run from it with different commands.
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY migrations ./migrations
ENV NODE_ENV=production
CMD ["npx", "tsx", "src/workers/main.ts"]
