#!/usr/bin/env node
// The `murmur` command. Sources are TypeScript run through tsx, so `npx murmur` works right
// after `npm ci` with no build step.
import { register } from 'tsx/esm/api'
register()
await import('../src/cli/main.ts')
