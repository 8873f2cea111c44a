import * as grpc from '@grpc/grpc-js';
import { idProblem } from '../core/ids';
import type { ClassificationInput, ClassificationOutput, ListDeploymentsResponse } from '../contract/messages';
import { notPermittedMessage, permitted } from './auth';
import { classifyInput, rejected } from './classifyInput';
import type { ServerContext } from './context';

/**
 * `ClassifySingle`: the per-image rules of a `Classify` request, outside any deployment (so no
 * uniqueness check). A refused affiliate is a per-image error: a unary call has no `global_error`.
 */
export function classifySingleHandler(ctx: ServerContext) {
  return (
    call: grpc.ServerUnaryCall<ClassificationInput, ClassificationOutput>,
    callback: grpc.sendUnaryData<ClassificationOutput>,
  ): void => {
    const auth = ctx.auth.authorize(call.metadata);
    if ('code' in auth) return callback(auth);
    // Each call waiting here holds its image: beyond the cap the call is refused at once (retryable).
    if (ctx.unary.running >= ctx.options.maxConcurrentUnary) {
      return callback({
        code: grpc.status.RESOURCE_EXHAUSTED,
        details: `server busy: ${ctx.options.maxConcurrentUnary} ClassifySingle calls in progress; retry after a back-off`,
      });
    }
    ctx.unary.running++;
    const input = call.request;
    const done = (output: ClassificationOutput) => {
      ctx.unary.running--;
      ctx.audit.record(null, input, output);
      callback(null, output);
    };
    if (!permitted(auth.affiliates, input.affiliate)) {
      return done(rejected(input.correlationId, 'ERROR_CODE_AFFILIATE_NOT_PERMITTED', notPermittedMessage(input.affiliate)));
    }
    const problem = idProblem('correlation id', input.correlationId);
    if (problem) return done(rejected(input.correlationId, 'ERROR_CODE_CORRELATION_ID_INVALID', problem));
    void classifyInput(input, ctx.input).then(async (output) => {
      await ctx.delays.wait(ctx.faults.latencyMs);
      done(output);
    });
  };
}

/** `ListDeployments`: each deployment with the number of responses in its backlog. */
export function listDeploymentsHandler(ctx: ServerContext) {
  return (call: grpc.ServerUnaryCall<unknown, ListDeploymentsResponse>, callback: grpc.sendUnaryData<ListDeploymentsResponse>): void => {
    const auth = ctx.auth.authorize(call.metadata);
    if ('code' in auth) return callback(auth);
    callback(null, { deployments: ctx.deployments.list().map((d) => ({ deploymentId: d.id, backlog: d.backlogSize })) });
  };
}
