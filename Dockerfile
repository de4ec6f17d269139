# syntax=docker/dockerfile:1
# Portcullis container: Node 24 LTS, production dependencies only, non-root, with a health check.
# TypeScript runs directly on Node's type stripping, so there is no build output to copy.

FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    DATA_DIR=/var/lib/portcullis \
    UV_THREADPOOL_SIZE=8 \
    MALLOC_ARENA_MAX=2
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json knexfile.ts ./
COPY src ./src
COPY migrations ./migrations
COPY views ./views
COPY static ./static
RUN mkdir -p /var/lib/portcullis && chown node:node /var/lib/portcullis \
 && ln -s /app/src/cli/main.ts /usr/local/bin/portcullis
USER node
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Migrations run at start-up (MIGRATE_ON_START=true); or run `portcullis migrate` as a
# separate job and set MIGRATE_ON_START=false.
CMD ["node", "src/main.ts"]
