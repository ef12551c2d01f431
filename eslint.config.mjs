// `npm run lint` (scripts/lint.sh) runs this over every TypeScript file tsconfig.json includes.
// Only rules that catch real bugs here; formatting is not linted.
import tseslint from 'typescript-eslint';

// The SDK's `lib/` paths are its internals: they move between releases without notice.
const noSdkInternals = {
  patterns: [
    {
      regex: '^@temporalio/[^/]+/lib(/|$)',
      message: 'SDK internals: import from the package root (@temporalio/common, @temporalio/workflow, ...).',
    },
  ],
};

// Workflow code runs in the deterministic sandbox and is bundled by webpack: at run time it may
// import only the SDK's workflow-safe packages and other workflow-safe modules of ours. Anything
// else (activities, Node built-ins, I/O clients, zod event schemas) may be imported as a type only,
// which the bundler erases.
const workflowSandbox = {
  patterns: [
    {
      // Every package except the two roots the sandbox is built from.
      regex: '^(?![./])(?!@temporalio/(workflow|common)$)',
      allowTypeImports: true,
      message: 'Workflow code may import only @temporalio/workflow and @temporalio/common at run time; use `import type`.',
    },
    {
      // Outside src/workflows, only the contracts and the trace header helpers are workflow-safe.
      regex: '^\\.\\./(?!contracts/|trace$)',
      allowTypeImports: true,
      message: 'Not workflow-safe (activities, I/O, config): use `import type`.',
    },
    {
      regex: '^\\.\\./contracts/[^/]+-events$',
      allowTypeImports: true,
      message: 'Event schemas (zod) stay out of the workflow bundle: use `import type`.',
    },
  ],
};

export default tseslint.config(
  { ignores: ['build/', 'dist/', 'node_modules/', '**/*.js', '**/*.mjs', '**/*.cjs'] },
  {
    files: ['**/*.ts', '**/*.mts'],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { '@typescript-eslint': tseslint.plugin },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // A promise nobody awaits loses its error and runs past the code that should wait for it.
      '@typescript-eslint/no-floating-promises': 'error',
      // An async callback where a sync one is expected (event emitters, `if (promise)`).
      '@typescript-eslint/no-misused-promises': 'error',
      'no-restricted-imports': ['error', noSdkInternals],
    },
  },
  {
    files: ['src/workflows/**/*.ts'],
    rules: { '@typescript-eslint/no-restricted-imports': ['error', workflowSandbox] },
  },
);
