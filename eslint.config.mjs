// ESLint (flat config) with typescript-eslint's type-aware rules. `npm run lint` checks,
// `npm run lint:fix` applies the fixes ESLint can make by itself.
//
// The type information comes from tsconfig.eslint.json: the project's tsconfig.json plus the plain
// JavaScript (bench, examples, scripts, bin), which is parsed but not type-checked.
import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  globalIgnores(['dist/', 'coverage/', 'tmp/', 'etc/', 'docs/', 'test/fixtures/']),
  {
    files: ['**/*.{ts,js,mjs,cjs}'],
    extends: [js.configs.recommended, tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      globals: globals.node,
      parserOptions: { project: './tsconfig.eslint.json', tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // The `arr[i]!` assertions are written for noUncheckedIndexedAccess (issue 10 turns it on);
      // without that flag this rule would strip all of them. Turn it on together with the flag:
      // then it finds only the assertions that are really unnecessary.
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
      // An `async` method that implements a Promise-returning interface (close(), a fake fetch)
      // is the plain way to turn a throw into a rejection, with or without an `await` inside.
      '@typescript-eslint/require-await': 'off',
      // gRPC status codes are plain numbers on the wire and in our public types (`status: number`);
      // comparing one with grpc-js's `status` enum is exactly what is meant.
      '@typescript-eslint/no-unsafe-enum-comparison': 'off',
      // Passing an abort `signal.reason` or a caught `unknown` on to `reject` keeps the caller's
      // error as it was; rejecting with a literal string is still an error.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingAny: true, allowThrowingUnknown: true }],
      // Modules loaded on first use, on purpose (comments at each site say why): the CLI's
      // subcommands, the testing server from `athena-rx serve`, sharp in the testing server. (The
      // OpenTelemetry SDK behind --metrics-port says so with a disable comment at its site.)
      // Any other require() in TypeScript should be an import.
      '@typescript-eslint/no-require-imports': ['error', { allow: ['^\\./commands/\\w+$', '/testing/server$', '^sharp$'] }],

      // Beyond the recommended set: rules this codebase already keeps (0 or a few violations),
      // so that it stays that way.
      // `import { type X }` as the code writes it; `typeof import('./x')` stays allowed for the
      // lazily loaded modules above.
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports', disallowTypeAnnotations: false }],
      // Result types are unions a user can `switch` on; so do we, and a new member must be handled
      // (a `default:` counts as handling it).
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      // `return await` inside try/catch, so the catch sees the rejection (and nowhere else).
      '@typescript-eslint/return-await': ['error', 'in-try-catch'],
      eqeqeq: ['error', 'smart'],
      'no-var': 'error',
      'prefer-const': 'error',
    },
  },
  {
    // Issue 10's measure of small modules: no source file over 400 lines and no function over
    // 120, doc comments included (a nested closure counts toward the function around it).
    files: ['src/**/*.ts'],
    rules: {
      'max-lines': ['error', { max: 400, skipBlankLines: false, skipComments: false }],
      'max-lines-per-function': ['error', { max: 120, skipBlankLines: false, skipComments: false, IIFEs: true }],
    },
  },
  {
    // Tests: Jest's asymmetric matchers (expect.objectContaining, expect.any, ...) are typed `any`,
    // and the tests read the CLI's JSON output with JSON.parse; the assertions are the type check
    // there. The promise rules (no-floating-promises, no-misused-promises, await-thenable) stay on:
    // they catch an `expect(...).rejects` that was never awaited.
    files: ['test/**/*.ts'],
    rules: {
      // The CLI specs match column-aligned output with regexes that spell it out as printed
      // (`/\]  9\/9  100%/`); `{2}` for each gap would hide the layout they check.
      'no-regex-spaces': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    // Plain JavaScript (bench, examples, scripts, bin, configs) has no types to be unsafe against:
    // every value from require(dist) or JSON.parse is `any`. The promise rules stay on.
    files: ['**/*.{js,mjs,cjs}'],
    rules: {
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    // CommonJS files (the bin launcher, jest.config.js, .dependency-cruiser.cjs, the memory
    // test's TypeScript hook): require() is how they import.
    files: ['**/*.{js,cjs}'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
