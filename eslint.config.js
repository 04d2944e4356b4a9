// Lint rules. The one rule that matters most: the protocol core and placement are pure, so
// clocks, randomness and timers are banned there (time and seeds come in as arguments).
import js from '@eslint/js'
import globals from 'globals'
import tseslint from 'typescript-eslint'

const impure = [
  { object: 'Date', property: 'now', message: 'pure code takes `now` as an argument' },
  { object: 'Math', property: 'random', message: 'pure code uses the seeded rng it is given' },
  { object: 'performance', property: 'now', message: 'pure code takes `now` as an argument' },
]

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
      // Closures that read a variable assigned later in start-up (the core, once addresses are known).
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
  { files: ['bin/**/*.js', 'scripts/**/*.js', 'src/**/*.mjs'], languageOptions: { globals: globals.node } },
  {
    files: ['src/core/**/*.ts', 'src/placement/**/*.ts', 'src/gossip/**/*.ts', 'src/sim/**/*.ts'],
    rules: {
      'no-restricted-properties': ['error', ...impure],
      'no-restricted-globals': ['error',
        { name: 'setTimeout', message: 'pure code has no timers: react to tick events' },
        { name: 'setInterval', message: 'pure code has no timers: react to tick events' },
        { name: 'setImmediate', message: 'pure code has no timers' },
        { name: 'process', message: 'pure code does no I/O' },
      ],
      'no-restricted-syntax': ['error',
        { selector: 'NewExpression[callee.name="Date"][arguments.length=0]', message: 'pure code takes `now` as an argument' },
      ],
      'no-restricted-imports': ['error', { patterns: [
        { group: ['node:*', 'libp2p', '@libp2p/*', '@chainsafe/*', 'fastify', 'pino', 'prom-client', 'datastore-level'], message: 'the core and placement import no I/O' },
        { group: ['../node/*', '../api/*', '../cli/*', '../execution/*'], message: 'pure code never imports the effectful shell' },
      ] }],
    },
  },
)
