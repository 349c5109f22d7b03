// What the browser suites (pages.test.mjs, widget.test.mjs) share: where the
// binary and the browser are, how Chromium is started, the axe rules, and the
// prerequisites check (with CI=true a missing one is a failing test; without
// it, the suite is skipped with a loud banner).
//
// Environment:
//   MUTUALIS_BIN      the binary (default $HOME/.cache/mutualis-target/debug/mutualis)
//   MUTUALIS_CHROMIUM the browser (default /usr/bin/chromium)
//   CI=true           a missing prerequisite fails the run instead of skipping it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { accessSync, constants, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

const require = createRequire(import.meta.url);

export const BIN = process.env.MUTUALIS_BIN
  || path.join(os.homedir(), '.cache', 'mutualis-target', 'debug', 'mutualis');
export const CHROMIUM = process.env.MUTUALIS_CHROMIUM || '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
export const IN_CI = /^(1|true|yes)$/i.test(process.env.CI || '');

export const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];

// ---------------------------------------------------------------- prerequisites

/** What is missing to run the suites, one sentence each; `build`: the cargo command suggested. */
export function missingPrerequisites(build = 'cargo build') {
  const missing = [];
  const executable = (file, what) => {
    try {
      accessSync(file, constants.X_OK);
    } catch {
      missing.push(`${what} not found or not executable at ${file}`);
    }
  };
  executable(BIN, `mutualis binary (build it: cd /work/main && CARGO_TARGET_DIR=$HOME/.cache/mutualis-target ${build}; or set MUTUALIS_BIN)`);
  executable(CHROMIUM, 'Chromium (apt-get install chromium; or set MUTUALIS_CHROMIUM)');
  for (const pkg of ['playwright-core', 'axe-core']) {
    try {
      require.resolve(pkg);
    } catch {
      missing.push(`npm package ${pkg} not installed (run: npm ci in tests/interop/browser)`);
    }
  }
  return missing;
}

/**
 * To call at the top of a suite's file, before its `describe`. If something is
 * missing: with CI=true, registers a failing test named `${check} (CI=true: none
 * may be missing)`; otherwise prints a banner saying `${suite} SKIPPED`.
 * Returns `skip`, for the suite's `describe` (false when nothing is missing),
 * and `axeSource`, axe-core's script ('' when something is missing).
 */
export function prerequisites({ suite, check, build }) {
  const MISSING = missingPrerequisites(build);
  let SKIP = false;
  if (MISSING.length > 0) {
    const banner = '!'.repeat(78);
    if (IN_CI) {
      // Fail loudly: with CI=true, nothing may be skipped.
      test(`${check} (CI=true: none may be missing)`, () => {
        assert.fail(`missing prerequisites:\n  - ${MISSING.join('\n  - ')}`);
      });
    } else {
      SKIP = `SKIPPED, missing prerequisites: ${MISSING.join('; ')}`;
      console.error(`\n${banner}\n!! ${suite} SKIPPED (CI is not set):\n!!   - ${MISSING.join('\n!!   - ')}\n${banner}\n`);
    }
  }
  return {
    skip: MISSING.length === 0 ? false : (SKIP || 'missing prerequisites: see the failing test above'),
    axeSource: MISSING.length === 0 ? readFileSync(require.resolve('axe-core'), 'utf8') : '',
  };
}
