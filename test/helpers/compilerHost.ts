import * as ts from 'typescript';

/** Parsed files by name and parse options, shared by every program this process creates. */
const parsed = new Map<string, ts.SourceFile | undefined>();

/**
 * A compiler host that parses each file once per process: programs with other options (another
 * module resolution, other `types`) share the parsed lib files, @types/node, the dependencies'
 * declarations and src/, which is most of the cost of creating a program. Files must not change
 * while the process runs (tests write their own sources under fresh names).
 */
export function parseOnceHost(options: ts.CompilerOptions): ts.CompilerHost {
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (fileName, languageVersionOrOptions, onError, shouldCreate) => {
    const key = `${fileName}\0${JSON.stringify(languageVersionOrOptions)}`;
    if (!parsed.has(key)) parsed.set(key, getSourceFile(fileName, languageVersionOrOptions, onError, shouldCreate));
    return parsed.get(key);
  };
  return host;
}
