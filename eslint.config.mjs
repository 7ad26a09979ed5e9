// Lint: typescript-eslint's recommended rules, no console output (use src/log.ts), and the
// architecture's import boundaries (DESIGN.md): irc/ and matrix/ never import each other,
// bridge/ or store/; format/ is pure and imports nothing of the bridge.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const boundary = (dirs) => ({
  'no-restricted-imports': ['error', {
    patterns: dirs.map((d) => ({ group: [`**/${d}`, `**/${d}/**`], message: `this layer must not import ${d}/ (see docs/architecture.md)` })),
  }],
});

export default tseslint.config(
  { ignores: ['lib/**', 'node_modules/**', 'coverage/**', 'stubs/**', 'bin/**', '*.config.js', '*.config.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      'no-console': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-control-regex': 'off',
    },
  },
  { files: ['src/irc/**/*.ts'], rules: boundary(['matrix', 'bridge', 'store', 'config']) },
  { files: ['src/matrix/**/*.ts'], rules: boundary(['irc', 'bridge', 'store', 'config']) },
  { files: ['src/format/**/*.ts'], rules: boundary(['irc', 'matrix', 'bridge', 'store', 'config']) },
  { files: ['src/store/**/*.ts'], rules: boundary(['irc', 'matrix', 'bridge', 'config']) },
  { files: ['spec/**/*.ts', 'scripts/**/*.ts'], rules: { 'no-console': 'off' } },
);
