#!/usr/bin/env bash
# Refresh widget/vendor/ from the npm registry: installs the socket.io-client pinned in widget/package.json
# (exact version, lockfile) and copies its browser bundle. The server itself needs no Node: the copy is committed.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund
version=$(node -p 'require("socket.io-client/package.json").version')
rm -f vendor/socket.io-*.min.js
cp node_modules/socket.io-client/dist/socket.io.min.js "vendor/socket.io-${version}.min.js"
echo "widget/vendor/socket.io-${version}.min.js"
