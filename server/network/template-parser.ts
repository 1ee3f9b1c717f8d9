/**
 * Templates parsed off the event loop. Building a template's topology is superlinear in its
 * size (template-limits.ts); even within the limits a large template takes a noticeable
 * fraction of a second, and the event loop serves every other request (and /healthz) in the
 * meantime. So the service parses client templates in a worker thread:
 *
 * - one worker, started on first use and kept (unref'd: it never holds the process open),
 *   parsing one template at a time in arrival order;
 * - a time limit per template (HANAMI_TEMPLATE_PARSE_TIMEOUT_MS): past it the worker is
 *   terminated (and started again for the next one) and the template refused as too large;
 * - a heap limit for the worker (`resourceLimits`, WORKER_HEAP_MB): a template that would
 *   need more is refused the same way instead of growing the service's memory.
 *
 * Errors arrive as the parser's own classes (TemplateError with line and column,
 * TemplateTooLargeError with the limit and the estimate).
 */
import { ignoreFailure } from '../../kernels/background.js';
import { Worker } from 'node:worker_threads';
import { TemplateTooLargeError, type TemplateLimits } from './template-limits.js';
import { TemplateError } from './template-types.js';
import type { ParseReply, ParseRequest, TemplateSummary } from './template-worker.js';

export type { TemplateSummary } from './template-worker.js';

/** The worker's old-generation heap: far above what the default limits need (tens of MiB). */
export const WORKER_HEAP_MB = 256;

export interface ParsedTemplate {
  /** Canonical text form (templateToText). */
  canonical: string;
  summary: TemplateSummary;
}

interface Job {
  request: ParseRequest;
  resolve: (parsed: ParsedTemplate) => void;
  reject: (error: Error) => void;
}

export class TemplateParser {
  private worker: Worker | undefined;
  /** Whether the worker has loaded its modules (it says 'ready'). */
  private ready = false;
  private readonly queue: Job[] = [];
  private current: { job: Job; timer: NodeJS.Timeout } | undefined;
  private nextId = 1;
  private closed = false;

  constructor(
    readonly limits: TemplateLimits,
    readonly timeoutMs: number,
  ) {}

  /** A client's template: checked against the limits, parsed, in canonical form with its summary. */
  parse(text: string): Promise<ParsedTemplate> {
    return this.submit({ id: this.nextId++, text, limits: { ...this.limits } });
  }

  /** A stored (canonical) template, whose summary an older record lacks: no limits, same time and heap caps. */
  summarizeStored(text: string): Promise<ParsedTemplate> {
    return this.submit({ id: this.nextId++, text });
  }

  /** Stops the worker; pending parses are refused. */
  async close(): Promise<void> {
    this.closed = true;
    const pending = [...this.queue.splice(0), ...(this.current ? [this.current.job] : [])];
    if (this.current) clearTimeout(this.current.timer);
    this.current = undefined;
    for (const job of pending) job.reject(new Error('the template parser was closed'));
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }

  private submit(request: ParseRequest): Promise<ParsedTemplate> {
    if (this.closed) return Promise.reject(new Error('the template parser was closed'));
    return new Promise<ParsedTemplate>((resolve, reject) => {
      this.queue.push({ request, resolve, reject });
      this.pump();
    });
  }

  /** Starts the worker ahead of the first request (spawning one takes the event loop ~0.1 s). */
  warm(): void {
    if (!this.closed) this.worker ??= this.start();
  }

  private start(): Worker {
    const worker = new Worker(new URL('./template-worker.js', import.meta.url), {
      resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB, maxYoungGenerationSizeMb: 32 },
      stdout: false,
      stderr: false,
    });
    worker.unref();
    this.ready = false;
    worker.on('message', (reply: ParseReply | 'ready') => {
      if (reply !== 'ready') this.finish(worker, reply);
      else if (worker === this.worker) {
        this.ready = true;
        this.pump();
      }
    });
    worker.on('error', (error: Error & { code?: string }) => this.fail(worker, error));
    worker.on('exit', () => this.fail(worker, new Error('the template worker exited')));
    return worker;
  }

  private pump(): void {
    if (this.current || this.closed || this.queue.length === 0) return;
    this.worker ??= this.start();
    if (!this.ready) return; // pumped again on 'ready'
    const worker = this.worker;
    const job = this.queue.shift()!;
    const timer = setTimeout(() => {
      this.abandon(
        worker,
        new TemplateTooLargeError(
          `parsing the template took longer than ${this.timeoutMs} ms (HANAMI_TEMPLATE_PARSE_TIMEOUT_MS); use fewer hexagons or a shorter max_connection_distance`,
          { name: 'HANAMI_TEMPLATE_PARSE_TIMEOUT_MS', value: this.timeoutMs },
          this.timeoutMs,
        ),
      );
    }, this.timeoutMs);
    timer.unref();
    this.current = { job, timer };
    worker.postMessage(job.request);
  }

  private finish(worker: Worker, reply: ParseReply): void {
    const current = this.current;
    if (worker !== this.worker || !current || current.job.request.id !== reply.id) return;
    clearTimeout(current.timer);
    this.current = undefined;
    if (reply.ok) current.job.resolve({ canonical: reply.canonical, summary: reply.summary });
    else if (reply.kind === 'template') current.job.reject(new TemplateError(reply.message.replace(/^line \d+, column \d+: /, ''), { line: reply.line, column: reply.column }));
    else if (reply.kind === 'too_large') current.job.reject(new TemplateTooLargeError(reply.message, reply.limit, reply.estimate));
    else current.job.reject(new Error(`template worker: ${reply.message}`));
    this.pump();
  }

  /** The worker died (out of memory, a crash): the template it held is refused, the next one gets a new worker. */
  private fail(worker: Worker, error: Error & { code?: string }): void {
    if (worker !== this.worker) return;
    const reason =
      error.code === 'ERR_WORKER_OUT_OF_MEMORY'
        ? new TemplateTooLargeError(
            `parsing the template needed more than ${WORKER_HEAP_MB} MiB; use fewer hexagons or a shorter max_connection_distance`,
            { name: 'template worker heap (MiB)', value: WORKER_HEAP_MB },
            WORKER_HEAP_MB,
          )
        : error;
    this.abandon(worker, reason);
  }

  private abandon(worker: Worker, reason: Error): void {
    if (worker !== this.worker) return;
    this.worker = undefined;
    ignoreFailure(worker.terminate(), 'the worker failed or timed out already; terminating it is a formality');
    const current = this.current;
    this.current = undefined;
    if (current) {
      clearTimeout(current.timer);
      current.job.reject(reason);
    }
    this.pump();
  }
}
