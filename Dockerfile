# matrix-irc-bridge container image.
#   docker build -t matrix-irc-bridge .
#   docker run --rm -v "$PWD/data:/data" matrix-irc-bridge -r -c /data/config.yaml -f /data/registration.yaml -u http://bridge:9995
#   docker run -d -v "$PWD/data:/data" -p 9995:9995 matrix-irc-bridge
# /data holds config.yaml, registration.yaml and the SQLite database (point database.path there).

# ---- build: compile TypeScript and the native better-sqlite3 module ----
FROM node:20-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# stubs/ is a file: dependency, so it must be present for npm ci
COPY package.json package-lock.json ./
COPY stubs ./stubs
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

# ---- runtime ----
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./package.json
# node_modules links the stub package by a relative path: keep stubs/ beside it
COPY --from=build /app/stubs ./stubs
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/lib ./lib
COPY bin ./bin
COPY config.sample.yaml ./config.sample.yaml
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME /data
EXPOSE 9995
ENTRYPOINT ["node", "/app/lib/main.js"]
CMD ["-c", "/data/config.yaml", "-f", "/data/registration.yaml"]
