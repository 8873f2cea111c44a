import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import type * as protoLoader from '@grpc/proto-loader';

/**
 * Options every part of the project loads the contract with; `./messages` describes the shapes
 * they produce. Enums come as names so that a result can be read and `switch`ed on directly.
 */
export const PROTO_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: String,
  enums: String,
  bytes: Buffer,
  defaults: true,
  arrays: true,
  oneofs: true,
};

/** The `proto/` folder of the package, found from this file whether run from `src/` or `dist/`. */
export function protoRoot(): string {
  let dir = __dirname;
  for (;;) {
    const candidate = path.join(dir, 'proto');
    if (fs.existsSync(path.join(candidate, 'athena', 'athena.proto'))) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`athena-rx: proto/athena/athena.proto not found above ${__dirname}`);
    dir = parent;
  }
}

let cached: protoLoader.PackageDefinition | undefined;

/** The parsed contract (loaded once per process). */
export function loadAthenaDefinition(): protoLoader.PackageDefinition {
  // proto-loader (with protobufjs's parser) is loaded here, when the contract is first needed,
  // not when athena-rx is: some 60 CPU-ms that code which never opens a channel (operators alone,
  // a Jest test file of them) does not pay.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  cached ??= (require('@grpc/proto-loader') as typeof import('@grpc/proto-loader')).loadSync('athena/athena.proto', {
    ...PROTO_LOADER_OPTIONS,
    includeDirs: [protoRoot()],
  });
  return cached;
}

/** The `ClassifierService` definition, for `new grpc.Client` subclasses and `server.addService`. */
export function classifierServiceDefinition(): grpc.ServiceDefinition {
  return loadAthenaDefinition()['athena.ClassifierService'] as grpc.ServiceDefinition;
}
