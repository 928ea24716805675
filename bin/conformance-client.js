#!/usr/bin/env node
// Runs the TypeScript conformance client through tsx's ESM loader (no build step).
import { register } from 'tsx/esm/api';

register();
await import('../tools/conformance/client.ts');
