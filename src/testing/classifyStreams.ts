import * as grpc from '@grpc/grpc-js';
import { idProblem } from '../core/ids';
import type { ClassificationInput, ClassificationOutput, ClassifyRequest, ClassifyResponse } from '../contract/messages';
import { notPermittedMessage, permitted } from './auth';
import { classifyInput, rejected } from './classifyInput';
import type { ServerContext } from './context';
import type { Deployment } from './deployment';
import { Stream, type ClassifyCall } from './stream';

/**
 * The `Classify` RPC: every open stream, its flow control (reading pauses while a stream has
 * `maxInFlightPerStream` requests being classified), the checks of contract section 2 for each
 * request, and the hand-over of each answer to the deployment.
 */
export class ClassifyStreams {
  private readonly open = new Set<Stream>();
  /** Images received and not yet answered, across every stream (closed ones included). */
  private pendingImages = 0;

  constructor(private readonly ctx: ServerContext) {
    ctx.faults.onReadingChange = () => this.open.forEach((s) => this.updateFlow(s));
  }

  /** The gRPC handler of `Classify`. */
  readonly handle = (call: ClassifyCall): void => {
    const auth = this.ctx.auth.authorize(call.metadata);
    if ('code' in auth) {
      call.emit('error', auth);
      return;
    }
    if (this.ctx.lifecycle.stopping) {
      call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'server stopping', metadata: new grpc.Metadata() });
      return;
    }
    const s = new Stream(call, auth.affiliates, this.ctx.options.maxQueuedPerStream, (drained) => {
      drained.deployment?.pump(drained);
      this.maybeFinish(drained);
    });
    this.open.add(s);
    if (this.ctx.faults.resetArmedAtZero) {
      this.ctx.faults.claimReset();
      this.abort(s, grpc.status.UNAVAILABLE, 'stream reset (fault injection)');
      return;
    }
    call.on('data', (request: ClassifyRequest) => this.onRequest(s, request));
    call.on('end', () => {
      s.halfClosed = true;
      this.maybeFinish(s);
    });
    call.on('cancelled', () => this.close(s));
    call.on('error', () => this.close(s));
    call.on('close', () => this.close(s));
    this.updateFlow(s);
  };

  /** Ends every open stream with `UNAVAILABLE` "server stopping". */
  stopAll(): void {
    for (const s of [...this.open]) this.abort(s, grpc.status.UNAVAILABLE, 'server stopping');
  }

  private leave(s: Stream): void {
    const d = s.deployment;
    if (!d) return;
    s.deployment = undefined;
    // Responses this stream had not yet written go back, in order, for another stream or a reconnect.
    d.leave(s, s.takeQueue(), this.ctx.clock.now());
  }

  private close(s: Stream): void {
    if (s.closed) return;
    this.leave(s);
    s.closed = true;
    this.open.delete(s);
  }

  private abort(s: Stream, code: grpc.status, details: string): void {
    if (s.closed) return;
    this.close(s);
    s.call.emit('error', { code, details, metadata: new grpc.Metadata() });
  }

  private updateFlow(s: Stream): void {
    if (s.closed) return;
    const pause = this.ctx.faults.readingPaused || s.inFlight >= this.ctx.options.maxInFlightPerStream || this.serverFull();
    if (pause && !s.call.isPaused()) s.call.pause();
    else if (!pause && s.call.isPaused()) s.call.resume();
  }

  private serverFull(): boolean {
    return this.pendingImages >= this.ctx.options.maxPendingImages;
  }

  /** Counts images in or out of the server-wide bound; every stream follows when it is crossed. */
  private addPending(n: number): void {
    const wasFull = this.serverFull();
    this.pendingImages += n;
    if (wasFull !== this.serverFull()) this.open.forEach((s) => this.updateFlow(s));
  }

  /** A half-closed stream ends (status OK) once its own requests are answered and written. */
  private maybeFinish(s: Stream): void {
    if (s.closed || !s.halfClosed || s.inFlight > 0 || s.queue.length > 0) return;
    this.close(s);
    s.call.end();
  }

  /** Responses that carry no correlation id (or an invalid deployment) go back to the sender only. */
  private sendDirect(s: Stream, response: ClassifyResponse): void {
    if (s.closed) return;
    s.push({ response, at: this.ctx.clock.now(), ids: [] });
  }

  /** An injected reset, or a deployment id that differs from the stream's first, ends the stream. */
  private streamProblem(s: Stream, deploymentId: string): boolean {
    if (s.resetAt === undefined) s.resetAt = this.ctx.faults.claimReset();
    if (s.resetAt !== undefined && ++s.sinceArmed >= s.resetAt) {
      this.abort(s, grpc.status.UNAVAILABLE, 'stream reset (fault injection)');
      return true;
    }
    if (s.deploymentId === undefined) s.deploymentId = deploymentId;
    else if (deploymentId !== s.deploymentId) {
      this.abort(
        s,
        grpc.status.INVALID_ARGUMENT,
        `deployment id changed on the stream from '${s.deploymentId}' to '${deploymentId}'; open a new stream for another deployment`,
      );
      return true;
    }
    return false;
  }

  private onRequest(s: Stream, request: ClassifyRequest): void {
    if (s.closed) return;
    const deploymentId = request.deploymentId;
    if (this.streamProblem(s, deploymentId)) return;
    const inputs = request.inputs ?? [];
    if (inputs.length > this.ctx.options.maxInputsPerRequest) return this.refuseTooMany(s, deploymentId, inputs);
    const badId = idProblem('deployment id', deploymentId);
    if (badId) return this.refuseDeploymentId(s, deploymentId, inputs, badId);
    const d = this.ctx.deployments.use(deploymentId);
    if (!d) {
      const max = this.ctx.options.maxDeployments;
      return this.abort(
        s,
        grpc.status.RESOURCE_EXHAUSTED,
        `this server holds ${max} deployments, each with a stream joined; try again later`,
      );
    }
    if (!s.deployment) {
      s.deployment = d;
      d.join(s, this.ctx.clock.now());
    }
    const refused = inputs.find((input) => !permitted(s.affiliates, input.affiliate));
    if (refused) {
      const error = { code: 'ERROR_CODE_AFFILIATE_NOT_PERMITTED' as const, message: notPermittedMessage(refused.affiliate), details: '' };
      inputs.forEach((input) =>
        this.ctx.audit.record(deploymentId, input, { correlationId: input.correlationId, classifications: [], error }),
      );
      this.sendDirect(s, { globalError: error, outputs: [] });
      return;
    }
    if (inputs.length === 0) return; // keep-alive or join
    this.classify(s, d, inputs);
  }

  /**
   * Too many inputs in one request: refused whole with a global error to the sender, before any
   * work (no deployment joined or created, nothing decoded); its images are audited as refused.
   */
  private refuseTooMany(s: Stream, deploymentId: string, inputs: ClassificationInput[]): void {
    const max = this.ctx.options.maxInputsPerRequest;
    const error = {
      code: 'ERROR_CODE_UNSPECIFIED' as const,
      message: `request has ${inputs.length} inputs; this server accepts at most ${max} per request (send 10-50 per request)`,
      details: '',
    };
    inputs.forEach((input) =>
      this.ctx.audit.record(deploymentId, input, { correlationId: input.correlationId, classifications: [], error }),
    );
    this.sendDirect(s, { globalError: error, outputs: [] });
  }

  /** No deployment to share with: the answer goes to this stream, per image when there are images. */
  private refuseDeploymentId(s: Stream, deploymentId: string, inputs: ClassificationInput[], problem: string): void {
    if (inputs.length === 0) {
      this.sendDirect(s, { globalError: { code: 'ERROR_CODE_DEPLOYMENT_ID_INVALID', message: problem, details: '' }, outputs: [] });
      return;
    }
    const outputs = inputs.map((input) => rejected(input.correlationId, 'ERROR_CODE_DEPLOYMENT_ID_INVALID', problem));
    this.ctx.audit.recordAll(deploymentId, inputs, outputs);
    this.sendDirect(s, { globalError: null, outputs });
  }

  /**
   * Reserves each input's correlation id in the deployment; the output of those that cannot have
   * one (invalid, or already outstanding) is decided here, the others are left `undefined`.
   */
  private reserve(d: Deployment, inputs: ClassificationInput[], reserved: string[]): (ClassificationOutput | undefined)[] {
    return inputs.map((input) => {
      const id = input.correlationId;
      const problem = idProblem('correlation id', id);
      if (problem) return rejected(id, 'ERROR_CODE_CORRELATION_ID_INVALID', problem);
      if (d.outstanding.has(id)) {
        return rejected(
          id,
          'ERROR_CODE_CORRELATION_ID_INVALID',
          `correlation id '${id}' is already in use in deployment '${d.id}' (not yet answered)`,
        );
      }
      d.outstanding.add(id);
      reserved.push(id);
      return undefined;
    });
  }

  /** Classifies the request's images and delivers one response to the deployment. */
  private classify(s: Stream, d: Deployment, inputs: ClassificationInput[]): void {
    const reserved: string[] = [];
    const early = this.reserve(d, inputs, reserved);
    s.inFlight++;
    this.addPending(inputs.length);
    this.updateFlow(s);
    void (async () => {
      try {
        const outputs = await Promise.all(inputs.map((input, k) => Promise.resolve(early[k] ?? classifyInput(input, this.ctx.input))));
        this.ctx.audit.recordAll(d.id, inputs, outputs);
        await this.ctx.delays.wait(this.ctx.faults.latencyMs);
        if (d.removed || this.ctx.lifecycle.stopping) return;
        d.deliver({ response: { globalError: null, outputs }, at: this.ctx.clock.now(), ids: reserved });
      } finally {
        s.inFlight--;
        this.addPending(-inputs.length);
        this.updateFlow(s);
        this.maybeFinish(s);
      }
    })();
  }
}
