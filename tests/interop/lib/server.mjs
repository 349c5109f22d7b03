// The `mutualis` binary as the interop suites run it: on a free loopback
// port, with a fresh data directory (--demo --no-metrics, JSON logs kept in
// memory for failure messages), stopped and cleaned up afterwards. Node's
// standard library only, so that each suite's package can import it.

import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export class Server {
  /**
   * `bin`: the binary; `prefix`: of the temporary data directory; `extraArgs`:
   * more arguments of `serve` (a function of the server, called at start, so
   * that they may name its address or data directory).
   */
  constructor({ bin, prefix = 'mutualis-', readyTimeoutMs = 60_000, extraArgs = () => [] }) {
    this.bin = bin;
    this.extraArgs = extraArgs;
    this.prefix = prefix;
    this.readyTimeoutMs = readyTimeoutMs;
    this.child = null;
    this.dataDir = null;
    this.output = '';
    this.exited = null;
  }

  tail(lines = 40) {
    return this.output.split('\n').slice(-lines).join('\n');
  }

  /** The last requests of the (JSON) log: "METHOD path → status". */
  requests(count) {
    const lines = [];
    for (const line of this.output.split('\n')) {
      try {
        const e = JSON.parse(line);
        if (e.span?.path && e.fields?.status !== undefined) lines.push(`${e.span.method} ${e.span.path} → ${e.fields.status}`);
        else if (e.level === 'WARN' || e.level === 'ERROR') lines.push(`${e.level} ${e.fields?.message || line}`);
      } catch {
        if (line.trim()) lines.push(line.slice(0, 300));
      }
    }
    return lines.slice(-count);
  }

  async prepare() {
    this.dataDir = mkdtempSync(path.join(os.tmpdir(), this.prefix));
    this.port = await freePort();
    this.base = `http://127.0.0.1:${this.port}`;
  }

  /** Runs a `mutualis` subcommand on this server's data directory. */
  cli(args, input) {
    try {
      return execFileSync(this.bin, [...args, '--data-dir', this.dataDir], {
        encoding: 'utf8', input, timeout: 60_000, stdio: ['pipe', 'pipe', 'pipe'],
      });
    } catch (e) {
      throw new Error(`mutualis ${args.join(' ')} failed (${e.status ?? e.signal}):\n${e.stdout || ''}${e.stderr || ''}`);
    }
  }

  /** Starts the server (preparing its directory and port if not done). */
  async start() {
    if (!this.dataDir) await this.prepare();
    const args = ['serve', '--demo', '--no-metrics', '--data-dir', this.dataDir,
      '--bind', `127.0.0.1:${this.port}`, '--log-format', 'json', ...this.extraArgs(this)];
    this.child = spawn(this.bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const collect = (chunk) => {
      this.output += chunk.toString();
      if (this.output.length > 200_000) this.output = this.output.slice(-100_000);
    };
    this.child.stdout.on('data', collect);
    this.child.stderr.on('data', collect);
    this.exitPromise = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.exited = { code, signal };
        resolve();
      });
      this.child.on('error', (err) => {
        this.exited = { error: err };
        resolve();
      });
    });

    const deadline = Date.now() + this.readyTimeoutMs;
    while (Date.now() < deadline) {
      if (this.exited) {
        throw new Error(`mutualis exited before it was ready (${JSON.stringify(this.exited)}):\n${this.tail()}`);
      }
      try {
        const res = await fetch(`${this.base}/readyz`, { signal: AbortSignal.timeout(2000) });
        if (res.status === 200) return;
      } catch {
        // not listening yet
      }
      await sleep(150);
    }
    throw new Error(`mutualis was not ready on ${this.base}/readyz after ${this.readyTimeoutMs} ms:\n${this.tail()}`);
  }

  // Synchronous, also used from process 'exit'.
  killNow(signal = 'SIGTERM') {
    if (this.child && !this.exited) {
      try { this.child.kill(signal); } catch { /* already gone */ }
    }
  }

  removeDataDir() {
    if (this.dataDir) {
      try { rmSync(this.dataDir, { recursive: true, force: true }); } catch { /* best effort */ }
      this.dataDir = null;
    }
  }

  async stop() {
    if (this.child && !this.exited) {
      this.killNow('SIGTERM');
      const stopped = await Promise.race([this.exitPromise.then(() => true), sleep(10_000).then(() => false)]);
      if (!stopped) {
        this.killNow('SIGKILL');
        await this.exitPromise;
      }
    }
    this.removeDataDir();
  }
}
