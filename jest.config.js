/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/spec'],
  testMatch: ['**/*.spec.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  // The end-to-end suite starts real servers; it runs serially after the unit tests.
  maxWorkers: 2,
  testTimeout: 20000,
};
